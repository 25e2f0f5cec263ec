import Glibc

/// Figures about this process read from /proc and getrusage.
enum ProcessFigures {
    /// A field of /proc/self/status in kB (VmRSS, VmHWM, Threads ...).
    static func status(_ field: String) -> Int? {
        guard let file = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix(field + ":") {
                let words = text.dropFirst(field.count + 1).split { $0 == " " || $0 == "\t" || $0 == "\n" }
                return words.first.flatMap { Int($0) }
            }
        }
        return nil
    }

    static var residentMegabytes: Double { Double(status("VmRSS") ?? 0) / 1024 }
    static var peakResidentMegabytes: Double { Double(status("VmHWM") ?? 0) / 1024 }
    static var threads: Int { status("Threads") ?? 0 }

    /// User plus system CPU seconds used by this process so far.
    static var cpuSeconds: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}

func format(_ value: Double, _ digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = "\(rounded)"
    if let dot = text.firstIndex(of: ".") {
        let decimals = text.distance(from: dot, to: text.endIndex) - 1
        if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
    }
    return text
}
