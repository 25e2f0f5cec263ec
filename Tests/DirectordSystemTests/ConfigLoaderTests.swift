import DirectordCore
import DirectordSystem
import Foundation
import Synchronization
import Testing

@Suite("Loading files")
struct ConfigLoaderTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("directord-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("a name is looked for in each search directory, then as given")
    func locate() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let first = root.appendingPathComponent("ha.d")
        let second = first.appendingPathComponent("conf")
        try FileManager.default.createDirectory(at: second, withIntermediateDirectories: true)
        try "".write(to: second.appendingPathComponent("web.cf"), atomically: true, encoding: .utf8)
        let dirs = [first.path, second.path]
        #expect(ConfigLoader.locate("web.cf", searchDirectories: dirs) == second.path + "/web.cf")
        try "".write(to: first.appendingPathComponent("web.cf"), atomically: true, encoding: .utf8)
        #expect(ConfigLoader.locate("web.cf", searchDirectories: dirs) == first.path + "/web.cf")
        #expect(ConfigLoader.locate("other.cf", searchDirectories: dirs) == "other.cf")
        #expect(ConfigLoader.configName(of: "/etc/ha.d/web.cf") == "web.cf")
    }

    @Test("an unreadable file is one error naming it")
    func unreadable() {
        let outcome = ConfigLoader().load(path: "/nonexistent/ldirectord.cf")
        #expect(outcome.configuration == nil)
        #expect(
            outcome.errors.map(\.description) == [
                "/nonexistent/ldirectord.cf: error: cannot read the file: No such file or directory"
            ])
    }

    @Test("secrets in a file others can read, a missing maintenance directory and an unwritable log are warned about")
    func environment() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("db.cf")
        try """
        maintenancedir=\(root.path)/missing
        logfile="/nonexistent-directory/directord.log"
        virtual=10.0.0.1:3306
        \treal=10.0.0.2:3306 gate
        \tservice=mysql
        \tlogin="monitor"
        \tpasswd="secret"
        \tmonitorfile="\(root.path)/monitor.log"
        """.write(to: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        let outcome = ConfigLoader().load(path: file.path)
        #expect(outcome.errors.isEmpty)
        #expect(
            outcome.warnings.map(\.message) == [
                "the file holds a passwd or secret and every user can read it: chmod o-r \(file.path)",
                "maintenance directory does not exist: \(root.path)/missing",
                "unable to open logfile: /nonexistent-directory/directord.log",
            ])
        // The monitor file's directory is writable; nothing was created by checking.
        #expect(!FileManager.default.fileExists(atPath: root.path + "/monitor.log"))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        #expect(ConfigLoader().load(path: file.path).warnings.count == 2)
    }
    @Test(
        "a check that cannot run keeps its real server or its service out; the checkers are asked once per run of the same strings"
    )
    func brokenChecks() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("web.cf")
        try """
        virtual=10.0.0.1:80
        \treal=10.0.0.2:80 masq
        \treal=10.0.0.3:80 masq
        \treal=10.0.0.4:80 masq 1 "own", "(broken"
        \treal=10.0.0.5:80 masq
        \treal=10.0.0.6:80 masq
        \tchecktype=negotiate
        \tservice=http
        \treceive="OK"
        virtual=10.0.0.1:81
        \treal=10.0.0.2:81 masq
        \treal=10.0.0.3:81 masq
        \tchecktype=negotiate
        \tservice=http
        \treceive="(broken"
        """.write(to: file, atomically: true, encoding: .utf8)
        // The addresses of the checks the checkers were asked about.
        let asked = Mutex<[IPAddress]>([])
        let loader = ConfigLoader(checkProblem: { check in
            asked.withLock { $0.append(check.address) }
            return check.receive.hasPrefix("(") ? "receive \"\(check.receive)\" is no pattern" : nil
        })
        let outcome = loader.load(path: file.path)
        let configuration = try #require(outcome.configuration)
        let first = configuration.virtualServices[0]
        #expect(first.refusal == nil)
        #expect(first.realServers.map { $0.refusal != nil } == [false, false, true, false, false])
        #expect(configuration.virtualServices[1].refusal == "receive \"(broken\" is no pattern")
        #expect(
            outcome.warnings.filter(\.isSevere).map(\.message) == [
                "receive \"(broken\" is no pattern; this real server is not run, the rest is",
                "receive \"(broken\" is no pattern; the service is not run, the rest is",
            ])
        // The first real server of each run of the same strings, and the first of the broken service.
        #expect(asked.withLock { $0.map(\.description) } == ["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.2"])
    }
    @Test("the lines holding bytes that are not UTF-8 are warned about, each by its number")
    func notUTF8() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("web.cf")
        var bytes = Array("checkinterval=5\n# caf".utf8) + [0xE9] + Array("\nvirtual=10.0.0.1:80\n".utf8)
        bytes += Array("\treal=10.0.0.2:80 masq\n\trequest=\"/\u{00E9}t\u{00E9}\"\n\treceive=\"".utf8) + [0xFF, 0xFE]
        bytes += Array("\"\n".utf8)
        try Data(bytes).write(to: file)
        let outcome = ConfigLoader().load(path: file.path)
        #expect(outcome.errors.isEmpty, "\(outcome.errors)")
        let warned = outcome.warnings.filter { $0.message.hasPrefix("bytes that are not UTF-8") }.map(\.line)
        // Line 5's é is UTF-8; lines 2 and 6 hold a Latin-1 é and two bytes no UTF-8 has.
        #expect(warned == [2, 6])
    }
}
