public import DirectordCore
public import Dispatch
import FoundationEssentials
import Glibc

/// The followers of `directord events`: each gets every ``ControlEvent`` as a JSON line.
///
/// Everything here runs on the hub's own queue, in the order the director on the check loop
/// asked for it. A follower's socket is non-blocking; what it does not take at once waits in a
/// buffer of its own, and a follower that falls a megabyte behind, or hangs up, is let go: a
/// slow reader never holds the loop.
public final class EventHub: @unchecked Sendable {
    private let queue: DispatchQueue
    private var followers: [Int32: Follower] = [:]
    static let maximumBacklog = 1 << 20

    public init(queue: DispatchQueue) {
        self.queue = queue
    }

    /// Sends the event to every follower, on the hub's queue. Called from the check loop (where
    /// the director reports), so events and ``follow(_:first:)`` keep the loop's order.
    public func publish(_ event: ControlEvent) {
        queue.async { [self] in
            guard !followers.isEmpty else { return }
            let line = Self.line(event)
            for follower in followers.values { follower.send(line) }
        }
    }

    /// Waits until every event published so far has been handed to the followers' sockets
    /// (the daemon's last events, just before it exits). Not on the hub's queue.
    public func flush() {
        queue.sync {}
    }

    /// Takes over `fd` (a connected, non-blocking socket) as a follower, after `first`.
    func follow(_ fd: Int32, first: [ControlEvent]) {
        queue.async { [self] in
            let follower = Follower(fd: fd, queue: queue) { [weak self] in self?.followers[fd] = nil }
            followers[fd] = follower
            for event in first { follower.send(Self.line(event)) }
        }
    }

    static func line(_ event: ControlEvent) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(event)) ?? Data()) + [UInt8(ascii: "\n")]
    }

    private final class Follower {
        let fd: Int32
        private var pending: [UInt8] = []
        private let reader: any DispatchSourceRead
        private var writer: (any DispatchSourceWrite)?
        private let queue: DispatchQueue
        private let gone: () -> Void
        private var closed = false

        init(fd: Int32, queue: DispatchQueue, gone: @escaping () -> Void) {
            self.fd = fd
            self.queue = queue
            self.gone = gone
            reader = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            // A follower says nothing: readable means it hung up (or sent junk, also the end).
            reader.setEventHandler { [unowned self] in
                var byte: UInt8 = 0
                let count = read(fd, &byte, 1)
                if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) { self.close() }
            }
            reader.resume()
        }

        func send(_ line: [UInt8]) {
            guard !closed else { return }
            if !pending.isEmpty {
                pending += line
                if pending.count > EventHub.maximumBacklog { close() }
                return
            }
            let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written == line.count { return }
            if written < 0 && errno != EAGAIN && errno != EINTR {
                close()
                return
            }
            pending = Array(line[max(written, 0)...])
            let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
            source.setEventHandler { [unowned self] in self.flush() }
            writer = source
            source.resume()
        }

        private func flush() {
            let written = pending.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno != EAGAIN && errno != EINTR { close() }
                return
            }
            pending.removeFirst(written)
            if pending.isEmpty {
                writer?.cancel()
                writer = nil
            }
        }

        func close() {
            guard !closed else { return }
            closed = true
            reader.cancel()
            writer?.cancel()
            Glibc.close(fd)
            gone()
        }
    }
}
