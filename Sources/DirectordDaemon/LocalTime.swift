import Glibc

/// Times as ldirectord prints them: Perl's `scalar localtime`, e.g. `Sat Nov 21 20:29:31 2026`.
enum LocalTime {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Www Mmm dd hh:mm:ss yyyy`, the day of the month padded with a space, in local time.
    static func ctime(_ seconds: Int = Int(time(nil))) -> String {
        var clock = time_t(seconds)
        var parts = tm()
        localtime_r(&clock, &parts)
        return ctime(parts)
    }

    static func ctime(_ parts: tm) -> String {
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let day = parts.tm_mday < 10 ? " \(parts.tm_mday)" : "\(parts.tm_mday)"
        return "\(days[Int(parts.tm_wday)]) \(months[Int(parts.tm_mon)]) \(day) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) \(1900 + Int(parts.tm_year))"
    }
}
