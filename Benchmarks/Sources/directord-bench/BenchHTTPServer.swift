import ArgumentParser
import CSystemShims
import Glibc

/// The real servers of `directord-bench checks`: many ports of one local HTTP server, run as a
/// child process so that its CPU time is not counted as the checker's.
///
/// One thread, one epoll instance. Every `hangEvery`-th port accepts, reads the request and
/// never answers (until the client gives up and closes); the others answer
/// `200 OK` with the body "OK" and close.
struct BenchHTTPServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-http",
        abstract: "The benchmark's HTTP server (started by `checks`).",
        shouldDisplay: false)

    @Option(help: "First port to listen on (127.0.0.1).")
    var basePort: Int = 20000

    @Option(help: "Ports to listen on.")
    var count: Int = 100

    @Option(help: "Every Nth port hangs; 0 for none.")
    var hangEvery: Int = 0

    func run() throws {
        raiseFileLimit()
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        // kinds[fd]: 1 listener, 2 hanging listener, 3 connection, 4 hanging connection.
        var kinds = [UInt8](repeating: 0, count: 1 << 20)
        var ports: [Int] = []
        var port = basePort
        while ports.count < count && port < 65536 {
            defer { port += 1 }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0, listen(fd, 4096) == 0 else {
                close(fd)
                continue
            }
            let hangs = hangEvery > 0 && ports.count % hangEvery == hangEvery - 1
            kinds[Int(fd)] = hangs ? 2 : 1
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.fd = fd
            epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
            ports.append(port)
        }
        print(ports.map(String.init).joined(separator: " "))
        fflush(nil)

        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n".utf8)
        var events = [epoll_event](repeating: epoll_event(), count: 1024)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let ready = epoll_wait(epollFD, &events, Int32(events.count), -1)
            if ready < 0 { continue }
            for index in 0..<Int(ready) {
                let fd = events[index].data.fd
                switch kinds[Int(fd)] {
                case 1, 2:
                    let hangs = kinds[Int(fd)] == 2
                    while true {
                        let client = accept(fd, nil, nil)
                        if client < 0 { break }
                        _ = fcntl(client, F_SETFL, O_NONBLOCK)
                        kinds[Int(client)] = hangs ? 4 : 3
                        var event = epoll_event()
                        event.events = EPOLLIN.rawValue
                        event.data.fd = client
                        epoll_ctl(epollFD, EPOLL_CTL_ADD, client, &event)
                    }
                case 3, 4:
                    let count = read(fd, &buffer, buffer.count)
                    if count == 0 || (count < 0 && errno != EAGAIN) {
                        kinds[Int(fd)] = 0
                        close(fd)
                    } else if count > 0 && kinds[Int(fd)] == 3 {
                        // Requests are small and arrive in one read; the check closes anyway.
                        _ = write(fd, response, response.count)
                        kinds[Int(fd)] = 0
                        close(fd)
                    }
                default:
                    break
                }
            }
        }
    }
}

/// Many sockets at once need more than the default 1024 (or 20000) descriptors; root may
/// raise its hard limit too.
func raiseFileLimit(to wanted: rlim_t = 1 << 20) {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    var raised = rlimit(rlim_cur: wanted, rlim_max: max(wanted, limit.rlim_max))
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) != 0 {
        raised = rlimit(rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
    }
}
