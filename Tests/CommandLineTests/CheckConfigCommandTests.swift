import Foundation
import Testing

/// `directord check-config`, run as an operator runs it.
@Suite("directord check-config")
struct CheckConfigCommandTests {
    struct Run {
        var status: Int32
        var output: String
        var errors: String
    }

    /// The directord binary built beside this test bundle (or $DIRECTORD_BINARY).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["DIRECTORD_BINARY"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("directord")
    }

    static func run(_ arguments: [String], in directory: URL? = nil, environment: [String: String]? = nil) throws -> Run
    {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if let environment { process.environment = environment }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
            errors: String(decoding: errorData, as: UTF8.self))
    }

    static func write(_ text: String, name: String = "test.cf") throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "directord-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test("a valid file exits 0 and prints its resolved form")
    func valid() throws {
        let file = try Self.write("checktimeout=3\nvirtual=10.0.0.10:80\n\treal=10.0.0.1 gate\n")
        let run = try Self.run(["check-config", file.path])
        #expect(run.status == 0)
        #expect(run.errors == "")
        #expect(
            run.output.hasPrefix("# Resolved configuration of \(file.path)\n# Global directives\ncheckinterval=10\n"))
        #expect(run.output.contains("\n\treal=10.0.0.1 gate 1\n"))
        #expect(run.output.contains("\n\tnegotiatetimeout=3\n"))
    }

    @Test("errors exit 2, each on stderr with file and line")
    func errors() throws {
        let file = try Self.write("checkinterval=0\nvirtual=10.0.0.10:80\n\treal=10.0.0.1 gate\n\tquiescent=maybe\n")
        let run = try Self.run(["check-config", file.path])
        #expect(run.status == 2)
        #expect(run.output == "")
        let lines = run.errors.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("\(file.path):1: error: checkinterval=0: invalid check interval value"))
        #expect(lines[1].hasPrefix("\(file.path):4: error: quiescent=maybe: quiescent must be 'yes' or 'no'"))
        #expect(lines[2] == "\(file.path): 2 errors")
    }

    @Test("a receive= that is no regular expression is said when the file is read; its service is not run")
    func brokenReceive() throws {
        let file = try Self.write(
            "virtual=10.0.0.10:80\n\treal=10.0.0.1:80 masq\n\tservice=http\n\treceive=\"OK(\"\n"
                + "virtual=10.0.0.11:80\n\treal=10.0.0.1:80 masq\n\tservice=http\n\treceive=\"OK\"\n")
        let run = try Self.run(["check-config", "--json", file.path])
        #expect(run.status == 0)
        #expect(run.errors.contains("\(file.path):1: warning: receive /OK(/ is not a valid regular expression"))
        #expect(run.output.contains("\"refusal\" : \"receive /OK(/ is not a valid regular expression"))
    }

    @Test("secrets never reach a diagnostic or the printed configuration; invisible bytes are shown escaped")
    func secretsAndBytes() throws {
        let file = try Self.write(
            "virtual=10.0.0.10:3306\n\treal=10.0.0.1:3306 gate\n\tservice=mysql\n\tlogin=\"u\"\n\tpasswd=\"hunter2\n"
                + "\tsecret=\"s3cr3t\"\n\trequest=\"SELECT 1\"\n\tbogus\u{1B}]0;x\u{07}=1\n")
        let run = try Self.run(["check-config", file.path])
        #expect(!(run.output + run.errors).contains("hunter2"))
        #expect(!(run.output + run.errors).contains("s3cr3t"))
        #expect(run.errors.contains("passwd=<hidden>: missing closing quote: read as \"<hidden>\""))
        #expect(!run.errors.contains("\u{1B}"))
        #expect(run.errors.contains("bogus\\x1B]0;x\\x07=1"))
    }

    @Test("an httpheader's value, often a credential, reaches neither a diagnostic nor the printed configuration")
    func headerSecrets() throws {
        let file = try Self.write(
            "virtual=10.0.0.10:80\n\treal=10.0.0.1:80 gate\n\tservice=http\n"
                + "\thttpheader=\"Authorization: Bearer tok3n\n\thttpheader=X-Api-Key: k3y\n")
        let run = try Self.run(["check-config", file.path])
        #expect(run.status == 0)
        #expect(!(run.output + run.errors).contains("tok3n"))
        #expect(!(run.output + run.errors).contains("k3y"))
        #expect(run.errors.contains("httpheader=<hidden>: missing closing quote"))
        #expect(run.output.contains("X-Api-Key: <hidden>"))
    }

    @Test(
        "what ldirectord runs but misreads is accepted with warnings; --strict refuses it, and what ldirectord refuses")
    func strict() throws {
        // ldirectord's own sample line, its ignored -w, a scheduler the kernel refuses.
        let misread = try Self.write(
            "virtual=10.0.0.10:80\n\treal=192.168.6.2::5060 gate\n\treal=10.0.0.2:80 gate -w 1\n"
                + "virtual=10.0.0.11:80\n\treal=10.0.0.3:80 gate\n\tscheduler=roundrobin\n")
        var run = try Self.run(["check-config", "--quiet", misread.path])
        #expect(run.status == 0)
        #expect(
            run.errors.contains(
                "\(misread.path):2: warning: real=192.168.6.2::5060 gate: read as 192.168.6.2:5060 gate"))
        #expect(
            run.errors.contains("\(misread.path):3: warning: real=10.0.0.2:80 gate -w 1: read as 10.0.0.2:80 gate 1"))
        #expect(
            run.errors.contains(
                "\(misread.path):6: warning: scheduler=roundrobin: the kernel has no scheduler \"roundrobin\""))
        run = try Self.run(["check-config", "--quiet", "--strict", misread.path])
        #expect(run.status == 2)
        #expect(
            run.errors.contains(
                "\(misread.path):2: error: real=192.168.6.2::5060 gate: directord reads this differently from ldirectord"
            ))
        // The -w line and the scheduler are read as ldirectord reads them: --strict lets them be.
        #expect(run.errors.contains("\(misread.path):3: warning:"))

        // directord's relaxations: ldirectord refuses each; plain check-config takes them.
        let relaxed = try Self.write(
            "quiescent=yes # why\r\nvirtual=10.0.0.10:80\r\n\treal=10.0.0.1:80 gate\r\n\r\n\trequest=/health\r\n")
        run = try Self.run(["check-config", "--quiet", relaxed.path])
        #expect(run.status == 0, "\(run.errors)")
        run = try Self.run(["check-config", "--quiet", "--strict", relaxed.path])
        #expect(run.status == 2)
        #expect(run.errors.contains("\(relaxed.path):1: error: quiescent=yes: ldirectord refuses this"))
        #expect(
            run.errors.contains(
                "\(relaxed.path):4: error: ldirectord refuses this: a blank line inside a virtual block"))
        #expect(
            run.errors.contains(
                "\(relaxed.path):5: error: request=/health: ldirectord refuses this: ldirectord reads request only between double quotes"
            ))
    }

    @Test("warnings go to stderr and do not fail the check")
    func warnings() throws {
        let file = try Self.write("virtual=10.0.0.10\n\treal=10.0.0.1 gate\n\tservice=http\n")
        let run = try Self.run(["check-config", "--quiet", file.path])
        #expect(run.status == 0)
        #expect(run.output == "")
        #expect(run.errors.hasPrefix("\(file.path):1: warning: virtual=10.0.0.10: read as firewall mark 10"))
    }

    @Test("a missing file exits 1, as ldirectord's initialisation error")
    func missing() throws {
        let run = try Self.run(["check-config", "/nonexistent/ldirectord.cf"])
        #expect(run.status == 1)
        #expect(run.errors == "Config file /nonexistent/ldirectord.cf not found\n")
    }

    @Test("a relative name is found in the working directory when /etc/ha.d has none")
    func relativeName() throws {
        let file = try Self.write("checkinterval=7\n", name: "directord-cli-test-\(UUID().uuidString).cf")
        let run = try Self.run(["check-config", file.lastPathComponent], in: file.deletingLastPathComponent())
        #expect(run.status == 0)
        #expect(run.output.contains("\ncheckinterval=7\n"))
    }

    @Test("--json prints the resolved configuration and diagnostics as JSON")
    func json() throws {
        let file = try Self.write("virtual=10.0.0.10:8080\n\treal=10.0.0.1:8080 masq 2\n\tchecktype=connect\n")
        let run = try Self.run(["check-config", "--json", file.path])
        #expect(run.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        #expect(object["file"] as? String == file.path)
        #expect((object["errors"] as? [Any])?.isEmpty == true)
        let configuration = try #require(object["configuration"] as? [String: Any])
        let services = try #require(configuration["virtualServices"] as? [[String: Any]])
        let key = try #require(services.first?["key"] as? [String: Any])
        #expect(key["address"] as? String == "10.0.0.10")
        #expect(key["port"] as? Int == 8080)
        #expect(key["protocol"] as? String == "tcp")
        #expect(services.first?["checkType"] as? String == "connect")
        let real = try #require((services.first?["realServers"] as? [[String: Any]])?.first)
        #expect(real["weight"] as? Int == 2)
        #expect(real["forwarding"] as? String == "masq")
    }

    @Test("--json reports errors as JSON too, with exit status 2")
    func jsonErrors() throws {
        let file = try Self.write("scheduler=rr\n")
        let run = try Self.run(["check-config", "--json", file.path])
        #expect(run.status == 2)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let errors = try #require(object["errors"] as? [[String: Any]])
        #expect(errors.first?["line"] as? Int == 1)
        #expect(
            errors.first?["message"] as? String
                == "\"scheduler\" belongs inside a virtual block: indent it under a virtual= line")
    }
}
