import DirectordSystem
import Glibc
import Testing

/// The one process spawner: exit statuses decoded, standard streams wired, the environment
/// extended, a missing program a clear error.
@Suite("the process spawner")
struct SpawnerTests {
    @Test("exit codes and signals come back as a shell reports them")
    func exits() throws {
        let exited = try Spawner.spawn(["/bin/sh", "-c", "exit 3"]).get()
        #expect(Spawner.wait(for: exited) == .exited(3))
        let killed = try Spawner.spawn(["/bin/sh", "-c", "kill -TERM $$"]).get()
        let status = Spawner.wait(for: killed)
        #expect(status == .signalled(SIGTERM))
        #expect(status.shellCode == 128 + SIGTERM)
    }

    @Test("input and output go through the given descriptors; extra variables reach the child")
    func streams() throws {
        let input = try Spawner.pipe().get()
        let output = try Spawner.pipe().get()
        let child = try Spawner.spawn(
            ["/bin/sh", "-c", "read line; echo \"$line $MARK\"; echo oops >&2"],
            .init(input: input.read, output: output.write, extraEnvironment: ["MARK=marked"])
        ).get()
        close(input.read)
        close(output.write)
        FileDescriptorOutput(descriptor: input.write).write("hello\n")
        close(input.write)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = retryingInterrupts { read(output.read, &buffer, buffer.count) }
            guard count > 0 else { break }
            bytes += buffer[..<count]
        }
        close(output.read)
        #expect(Spawner.wait(for: child) == .exited(0))
        #expect(String(decoding: bytes, as: UTF8.self) == "hello marked\noops\n")
    }

    @Test("standard input is /dev/null unless given, and no descriptor of ours leaks")
    func clean() throws {
        let output = try Spawner.pipe().get()
        let child = try Spawner.spawn(
            ["/bin/sh", "-c", "cat; ls /proc/self/fd | wc -l"], .init(output: output.write)
        ).get()
        close(output.write)
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = retryingInterrupts { read(output.read, &buffer, buffer.count) }
        close(output.read)
        #expect(Spawner.wait(for: child) == .exited(0))
        // 0, 1, 2 and the directory ls reads: nothing of the test runner's.
        #expect(String(decoding: buffer[..<max(count, 0)], as: UTF8.self).trimmingPrefix(" ").hasPrefix("4"))
    }

    @Test("a program that does not exist is an error naming it")
    func missing() {
        guard case .failure(let error) = Spawner.spawn(["/nonexistent/program"]) else {
            Issue.record("spawned a missing program")
            return
        }
        #expect(error.description == "cannot run /nonexistent/program: No such file or directory")
    }
}
