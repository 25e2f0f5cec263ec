import CCurl
import CCurlShims
import Glibc

/// libcurl could not be set up (not a checked server's fault).
struct CurlSetupError: Error, CustomStringConvertible {
    var description: String
}

/// libcurl's global state, initialised once per process before the first handle. Since curl
/// 7.84 this is thread-safe; a lazily initialised global makes it happen exactly once.
private let curlGlobalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

/// The loop's libcurl multi handle, driven by the multi-socket API: curl says which sockets to
/// watch (`CURLMOPT_SOCKETFUNCTION`) and when to call back (`CURLMOPT_TIMERFUNCTION`); the
/// ``Reactor`` watches and times, and tells curl what happened with `curl_multi_socket_action`.
///
/// Owns every easy handle it runs, and keeps a few idle ones to reuse (`curl_easy_reset` keeps
/// their buffers), which saves an allocation-heavy `curl_easy_init` per check. Not thread-safe:
/// used only on the loop.
final class CurlMulti {
    private let reactor: Reactor
    private var multi: UnsafeMutableRawPointer?
    private var transfers: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private var timer: TimerID?
    /// Per multi (64 of them): enough to absorb the checks that end and start in one turn of
    /// the loop; more would keep the buffers of a start-up burst for ever.
    private static let idleHandleLimit = 16

    init(reactor: Reactor) throws(CurlSetupError) {
        guard curlGlobalInit == CURLE_OK else {
            throw CurlSetupError(
                description: "curl_global_init: \(String(cString: curl_easy_strerror(curlGlobalInit)))")
        }
        guard let multi = curl_multi_init() else { throw CurlSetupError(description: "curl_multi_init failed") }
        self.multi = multi
        self.reactor = reactor
        let context = Unmanaged.passUnretained(self).toOpaque()
        CDirectord_curl_multi_setopt_socket_function(multi, curlSocketCallback)
        CDirectord_curl_multi_setopt_pointer(multi, CURLMOPT_SOCKETDATA, context)
        CDirectord_curl_multi_setopt_timer_function(multi, curlTimerCallback)
        CDirectord_curl_multi_setopt_pointer(multi, CURLMOPT_TIMERDATA, context)
    }

    deinit {
        close()
    }

    /// Removes every transfer (their checks must have ended) and frees the multi handle.
    func close() {
        guard let multi else { return }
        for transfer in Array(transfers.values) { remove(transfer) }
        for handle in idleHandles { curl_easy_cleanup(handle) }
        idleHandles.removeAll()
        reactor.cancel(timer)
        curl_multi_cleanup(multi)
        self.multi = nil
    }

    /// An easy handle, reset, for a new transfer.
    func makeEasyHandle() throws(CurlSetupError) -> UnsafeMutableRawPointer {
        if let handle = idleHandles.popLast() {
            curl_easy_reset(handle)
            return handle
        }
        guard let handle = curl_easy_init() else { throw CurlSetupError(description: "curl_easy_init failed") }
        return handle
    }

    /// Starts a configured transfer; its ``CurlTransfer/completed(_:)`` runs on the loop.
    func add(_ transfer: CurlTransfer) throws(CurlSetupError) {
        guard let multi else { throw CurlSetupError(description: "the check loop is shut down") }
        let code = curl_multi_add_handle(multi, transfer.handle)
        guard code == CURLM_OK else {
            throw CurlSetupError(description: "curl_multi_add_handle: \(String(cString: curl_multi_strerror(code)))")
        }
        transfers[transfer.handle] = transfer
    }

    /// Stops a transfer (finished or not) and keeps its easy handle for reuse.
    /// Safe to call for a transfer that was never added, and more than once.
    func remove(_ transfer: CurlTransfer) {
        guard !transfer.isDetached else { return }
        if let multi, transfers.removeValue(forKey: transfer.handle) != nil {
            curl_multi_remove_handle(multi, transfer.handle)
        }
        transfer.detach()
        if multi != nil && idleHandles.count < Self.idleHandleLimit {
            idleHandles.append(transfer.handle)
        } else {
            curl_easy_cleanup(transfer.handle)
        }
    }

    var activeCount: Int { transfers.count }

    // MARK: From curl (called inside curl_multi_socket_action / add_handle, on the loop)

    fileprivate func watch(_ fd: curl_socket_t, what: Int32) -> Int32 {
        if what == CURL_POLL_REMOVE {
            reactor.unregister(fd)
            return 0
        }
        var interest: PollEvents = []
        if what & CURL_POLL_IN != 0 { interest.insert(.readable) }
        if what & CURL_POLL_OUT != 0 { interest.insert(.writable) }
        do {
            try reactor.register(fd, for: interest) { [weak self] events in
                guard let self else { return }
                self.socketReady(fd, events)
            }
            return 0
        } catch {
            return -1
        }
    }

    fileprivate func setTimer(milliseconds: Int) {
        reactor.cancel(timer)
        timer = nil
        guard milliseconds >= 0 else { return }
        // Never call curl from inside its own callback: even "now" goes through the timer.
        timer = reactor.schedule(after: .milliseconds(milliseconds)) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.act(on: CURL_SOCKET_BAD, flags: 0)
        }
    }

    // MARK: To curl

    private func socketReady(_ fd: curl_socket_t, _ events: PollEvents) {
        var flags: Int32 = 0
        if events.contains(.readable) || events.contains(.hangup) { flags |= CURL_CSELECT_IN }
        if events.contains(.writable) { flags |= CURL_CSELECT_OUT }
        if events.contains(.error) { flags |= CURL_CSELECT_ERR }
        act(on: fd, flags: flags)
    }

    private func act(on fd: curl_socket_t, flags: Int32) {
        guard let multi else { return }
        var running: Int32 = 0
        curl_multi_socket_action(multi, fd, flags, &running)
        collectFinished()
    }

    private func collectFinished() {
        guard let multi else { return }
        var finished: [(CurlTransfer, CURLcode)] = []
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle,
                let transfer = transfers[handle]
            else { continue }
            finished.append((transfer, message.pointee.data.result))
        }
        // After the loop: completing a transfer removes its handle, which invalidates messages.
        for (transfer, code) in finished { transfer.completed(code) }
    }
}

private func curlSocketCallback(
    easy: UnsafeMutableRawPointer?, fd: curl_socket_t, what: Int32, context: UnsafeMutableRawPointer?,
    socketContext: UnsafeMutableRawPointer?
) -> Int32 {
    guard let context else { return -1 }
    return Unmanaged<CurlMulti>.fromOpaque(context).takeUnretainedValue().watch(fd, what: what)
}

private func curlTimerCallback(multi: UnsafeMutableRawPointer?, milliseconds: Int, context: UnsafeMutableRawPointer?)
    -> Int32
{
    guard let context else { return -1 }
    Unmanaged<CurlMulti>.fromOpaque(context).takeUnretainedValue().setTimer(milliseconds: milliseconds)
    return 0
}
