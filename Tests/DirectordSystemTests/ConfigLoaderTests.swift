import DirectordCore
import DirectordSystem
import Foundation
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
}
