public import DirectordCore
import DirectordSystem
import Glibc

/// ldirectord's per-service check log (`monitorfile`): one line per check of each real server,
/// `[<ctime>] [<pid>] <real id> [up|down] <message>`.
public enum MonitorFile {
    /// The line ldirectord writes. The real id is its `get_real_id_str` with `:` turned into
    /// blanks (runs squeezed) and backslashes dropped; `%`, `|` and line breaks in the message
    /// are escaped as `%xx`, other control characters as `\xNN`.
    public static func line(
        virtual: VirtualService, real: RealServer, result: CheckResult, time: String, pid: Int32
    ) -> String {
        let check: String =
            switch virtual.checkType {
            case .negotiate, .combined: "\(virtual.checkType.ldirectordName):\(virtual.service.rawValue)"
            case .external, .externalPerl: "\(virtual.checkType.ldirectordName):\(virtual.checkCommand)"
            default: virtual.checkType.ldirectordName
            }
        let fields = [
            check, virtual.protocol.rawValue, real.address.bracketed, "\(real.configuredPort ?? 0)",
            virtual.virtualHost ?? "", virtual.checkPort.map { "\($0)" } ?? "", "\(real.weight)",
            real.forwarding.rawValue, real.request, real.receive,
        ]
        var id = ""
        var lastWasColon = false
        for character in fields.joined(separator: ":") where character != "\\" {
            if character == ":" {
                if !lastWasColon { id.append(" ") }
                lastWasColon = true
            } else {
                id.append(character)
                lastWasColon = false
            }
        }
        var message = ""
        for character in result.reason.isEmpty ? "-" : result.reason {
            switch character {
            case "%": message += "%25"
            case "|": message += "%7c"
            case "\n": message += "%0a"
            case "\r": message += "%0d"
            case "\r\n": message += "%0d%0a"
            default: message.append(character)
            }
        }
        // A peer's bytes (an external check's output) never reach the file raw.
        return "[\(time)] [\(pid)] \(id) [\(result.isUp ? "up" : "down")] \(VisibleText.escaping(message))\n"
    }

    /// Appends the line for one check; a file that cannot be opened is reported once by the
    /// caller's log, not here.
    @discardableResult
    public static func append(
        to path: String, virtual: VirtualService, real: RealServer, result: CheckResult
    ) -> Bool {
        let text = line(virtual: virtual, real: real, result: result, time: LocalTime.ctime(), pid: getpid())
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { return false }
        FileDescriptorOutput(descriptor: descriptor).write(text)
        close(descriptor)
        return true
    }
}

extension CheckType {
    /// ldirectord's internal name: `combined` for a number.
    var ldirectordName: String {
        if case .combined = self { return "combined" }
        return configValue
    }
}
