import CCurl
import CCurlShims
import Glibc

/// One libcurl easy handle while it runs a transfer: its options, the response it collects
/// (status line, body up to a cap) and the lists and buffers curl points into, freed in
/// ``detach()``.
final class CurlTransfer {
    let handle: UnsafeMutableRawPointer
    private let bodyLimit: Int
    private let keepsBody: Bool
    private var lists: [UnsafeMutablePointer<curl_slist>] = []
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var onCompletion: ((CURLcode) -> Void)?
    /// The handle went back to the multi's pool (or was freed); this transfer is over.
    private(set) var isDetached = false

    /// The body received, up to the cap.
    private(set) var body: [UInt8] = []
    /// Bytes of body received, including any past the cap.
    private(set) var bodyBytes = 0
    /// The transfer was stopped because the body reached the cap.
    private(set) var bodyWasCut = false
    /// The reason phrase of the last status line ("Service Unavailable").
    private(set) var reasonPhrase = ""
    /// The sockets curl opened for this transfer and has not closed, by descriptor: the
    /// identity (device and inode) of each, to tell it from a later socket of the same number.
    private var ownSockets: [Int32: SocketIdentity] = [:]

    /// - Parameters:
    ///   - keepsBody: false when nothing will look at the body; it is then only counted.
    init(handle: UnsafeMutableRawPointer, bodyLimit: Int, keepsBody: Bool) {
        self.handle = handle
        self.bodyLimit = bodyLimit
        self.keepsBody = keepsBody
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        let context = Unmanaged.passUnretained(self).toOpaque()
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        CDirectord_curl_easy_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, curlWriteCallback)
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        CDirectord_curl_easy_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION, curlHeaderCallback)
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        // Signals are the daemon's; timeouts here are the loop's timer, not SIGALRM.
        set(CURLOPT_NOSIGNAL, 1)
    }

    deinit {
        errorBuffer.deallocate()
        freeLists()
    }

    // MARK: Options

    func set(_ option: CURLoption, _ value: Int) {
        CDirectord_curl_easy_setopt_long(handle, option, value)
    }

    /// curl copies string options, so the Swift string need not outlive the call.
    func set(_ option: CURLoption, _ value: String) {
        CDirectord_curl_easy_setopt_string(handle, option, value)
    }

    /// Unsets a string option (a null `char *`).
    func setNull(_ option: CURLoption) {
        CDirectord_curl_easy_setopt_pointer(handle, option, nil)
    }

    /// A list option (`CURLOPT_HTTPHEADER`, `CURLOPT_CONNECT_TO`); the list lives until
    /// ``detach()``.
    func set(_ option: CURLoption, list values: [String]) {
        var list: UnsafeMutablePointer<curl_slist>?
        for value in values { list = curl_slist_append(list, value) }
        guard let list else { return }
        lists.append(list)
        CDirectord_curl_easy_setopt_pointer(handle, option, list)
    }

    // MARK: Results

    func start(on multi: CurlMulti, completion: @escaping (CURLcode) -> Void) throws(CurlSetupError) {
        onCompletion = completion
        try multi.add(self)
    }

    /// Makes libcurl run this transfer again soon, whatever its sockets say.
    ///
    /// Why: some of curl 7.88's protocol code waits without telling the multi-socket API what
    /// for (LDAP while it connects and binds: no socket is watched; LDAPS once TLS holds the
    /// decrypted reply, so the socket never becomes readable), and only a caller that polls every
    /// transfer, as the `curl` command does, gets it going again. Pausing and resuming the
    /// transfer is the public way to do that for one transfer: resuming marks it to run at once
    /// (curl's timer callback then fires) and to try reading and writing.
    func nudge() {
        guard !isDetached else { return }
        curl_easy_pause(handle, CURLPAUSE_ALL)
        curl_easy_pause(handle, CURLPAUSE_CONT)
    }

    /// Writes `text` on the connection of a finished `CURLOPT_CONNECT_ONLY` transfer (through
    /// its TLS layer) without waiting; false when it could not be written at once.
    @discardableResult
    func sendWithoutWaiting(_ text: String) -> Bool {
        guard !isDetached else { return false }
        var bytes = Array(text.utf8)
        var sent = 0
        let code = curl_easy_send(handle, &bytes, bytes.count, &sent)
        return code == CURLE_OK && sent == bytes.count
    }

    /// Makes curl close only the sockets that are still its own (see ``closeIfStillOwn(_:)``).
    ///
    /// Why: curl 7.88's LDAP code hands its connected socket to libldap, whose unbind closes it,
    /// and then curl closes the same descriptor number again (seen with strace, the `curl`
    /// command included). Any descriptor another thread opened in between (another check loop,
    /// the daemon's netlink socket, a check command's pipe) would be closed under it: in the
    /// tests a plain HTTP check on another loop failed with "Bad file descriptor".
    func closesOnlyOwnSockets() {
        let context = Unmanaged.passUnretained(self).toOpaque()
        // curl_easy_setopt takes callbacks through C varargs; the shim's `void *` overload passes
        // a pointer the same way on every ABI Swift runs on, so no typed shim is needed.
        CDirectord_curl_easy_setopt_pointer(
            handle, CURLOPT_SOCKOPTFUNCTION,
            unsafeBitCast(curlSocketOpened as curl_sockopt_callback, to: UnsafeMutableRawPointer.self))
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_SOCKOPTDATA, context)
        CDirectord_curl_easy_setopt_pointer(
            handle, CURLOPT_CLOSESOCKETFUNCTION,
            unsafeBitCast(curlCloseSocket as curl_closesocket_callback, to: UnsafeMutableRawPointer.self))
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_CLOSESOCKETDATA, context)
    }

    /// Called by the multi handle when curl reports the transfer done.
    func completed(_ code: CURLcode) {
        let completion = onCompletion
        onCompletion = nil
        completion?(code)
    }

    /// Releases what curl pointed into; the handle goes back to the multi's pool.
    ///
    /// The transfers that use ``closesOnlyOwnSockets()`` forbid connection reuse, so curl has
    /// closed their connection (calling back here) before this.
    func detach() {
        isDetached = true
        onCompletion = nil
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_SOCKOPTFUNCTION, nil)
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_CLOSESOCKETFUNCTION, nil)
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, nil)
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, nil)
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, nil)
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_HTTPHEADER, nil)
        CDirectord_curl_easy_setopt_pointer(handle, CURLOPT_CONNECT_TO, nil)
        freeLists()
    }

    var responseCode: Int {
        var code = 0
        CDirectord_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    var redirectCount: Int {
        var count = 0
        CDirectord_curl_easy_getinfo_long(handle, CURLINFO_REDIRECT_COUNT, &count)
        return count
    }

    /// The errno of the last failed system call (a refused connect).
    var systemErrno: Int32 {
        var code = 0
        CDirectord_curl_easy_getinfo_long(handle, CURLINFO_OS_ERRNO, &code)
        return Int32(code)
    }

    var effectiveURL: String? {
        var url: UnsafePointer<CChar>?
        CDirectord_curl_easy_getinfo_string(handle, CURLINFO_EFFECTIVE_URL, &url)
        return url.map { String(cString: $0) }
    }

    /// curl's own detailed message for the failure, or its generic text for the code.
    func errorText(for code: CURLcode) -> String {
        let detail = String(cString: errorBuffer).trimmingSuffix(while: \.isWhitespace)
        return detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
    }

    // MARK: From curl

    fileprivate func receive(_ data: UnsafeRawBufferPointer) -> Int {
        bodyBytes += data.count
        let room = bodyLimit - body.count
        if keepsBody { body.append(contentsOf: data.prefix(max(0, room))) }
        if data.count > room {
            // Returning less than given stops the transfer (CURLE_WRITE_ERROR), which is how a
            // huge body is cut off; the check then judges what it has.
            bodyWasCut = true
            return 0
        }
        return data.count
    }

    fileprivate func receiveHeader(_ data: UnsafeRawBufferPointer) {
        // "HTTP/1.1 503 Service Unavailable\r\n": a new response (after a redirect or a 100)
        // starts with its status line.
        guard data.starts(with: "HTTP/".utf8) else { return }
        let line = String(decoding: data, as: UTF8.self).trimmingSuffix(while: {
            $0 == "\r" || $0 == "\n" || $0 == "\r\n"
        })
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        reasonPhrase = parts.count == 3 ? String(parts[2]) : ""
    }

    fileprivate func socketOpened(_ fd: Int32) {
        if let identity = SocketIdentity(fd) { ownSockets[fd] = identity }
    }

    /// Closes `fd` unless it is no longer the socket curl opened under that number: already
    /// closed (by libldap), or closed and the number taken by another thread's descriptor.
    fileprivate func closeIfStillOwn(_ fd: Int32) {
        guard let identity = ownSockets.removeValue(forKey: fd) else {
            // Not seen opening (no socket callback for it): curl's own behaviour.
            Glibc.close(fd)
            return
        }
        // While `fd` is still this socket, no other descriptor can take its number, so the
        // check and the close cannot race.
        if SocketIdentity(fd) == identity { Glibc.close(fd) }
    }

    private func freeLists() {
        for list in lists { curl_slist_free_all(list) }
        lists.removeAll()
    }
}

extension String {
    func trimmingSuffix(while predicate: (Character) -> Bool) -> String {
        var text = Substring(self)
        while let last = text.last, predicate(last) { text = text.dropLast() }
        return String(text)
    }
}

private func curlWriteCallback(
    data: UnsafeMutablePointer<CChar>?, size: Int, count: Int, context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let buffer = UnsafeRawBufferPointer(start: data, count: size * count)
    return Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue().receive(buffer)
}

private func curlHeaderCallback(
    data: UnsafeMutablePointer<CChar>?, size: Int, count: Int, context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let buffer = UnsafeRawBufferPointer(start: data, count: size * count)
    Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue().receiveHeader(buffer)
    return size * count
}

/// What a descriptor refers to: device and inode (sockets get unique inodes in the kernel's
/// socket file system).
private struct SocketIdentity: Equatable {
    let device: UInt64
    let inode: UInt64

    /// Nil when `fd` is not open.
    init?(_ fd: Int32) {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}

private func curlSocketOpened(context: UnsafeMutableRawPointer?, fd: curl_socket_t, purpose: curlsocktype) -> Int32 {
    if let context { Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue().socketOpened(fd) }
    return Int32(CURL_SOCKOPT_OK)
}

private func curlCloseSocket(context: UnsafeMutableRawPointer?, fd: curl_socket_t) -> Int32 {
    guard let context else { return Glibc.close(fd) }
    Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue().closeIfStillOwn(fd)
    return 0
}
