import CPCRE2
public import DirectordCore

/// A `receive=` string compiled as the Perl regular expression ldirectord makes of it
/// (`$content =~ /$receive/`): unanchored, no flags, matched against raw bytes.
///
/// PCRE2 rather than Swift's `Regex`: ldirectord's patterns are Perl's own syntax; bodies are
/// bytes in any encoding, not Swift strings; and a match has a budget (`pcre2_set_match_limit`),
/// so a pathological pattern against a 1 MiB body ends as a down result instead of stalling
/// every other check on the loop. JIT-compiled where the platform supports it.
final class ReceivePattern {
    enum Outcome: Equatable {
        case found
        case notFound
        /// The match ran out of its backtracking budget or failed inside PCRE2.
        case gaveUp(String)
    }

    let source: String
    private let code: OpaquePointer
    private let matchData: OpaquePointer

    /// - Parameter jit: JIT-compile it, for matching; a pattern made only to see whether it
    ///   compiles skips that (a reload of a file of 100 services spent 6.5 of its 25.6 ms
    ///   JIT-compiling their patterns only to free them).
    init(_ source: String, jit: Bool = true) throws(ReceivePatternError) {
        self.source = source
        var errorCode: Int32 = 0
        var errorOffset = 0
        let compiled = source.utf8CString.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: UInt8.self) { bytes in
                pcre2_compile_8(bytes.baseAddress, bytes.count - 1, 0, &errorCode, &errorOffset, nil)
            }
        }
        guard let compiled else {
            throw ReceivePatternError(pattern: source, message: Self.message(for: errorCode), offset: errorOffset)
        }
        code = compiled
        // Without JIT support PCRE2 interprets; both honour the match limit.
        if jit { _ = pcre2_jit_compile_8(compiled, UInt32(PCRE2_JIT_COMPLETE)) }
        guard let data = pcre2_match_data_create_from_pattern_8(compiled, nil) else {
            pcre2_code_free_8(compiled)
            throw ReceivePatternError(pattern: source, message: "out of memory", offset: 0)
        }
        matchData = data
    }

    deinit {
        pcre2_match_data_free_8(matchData)
        pcre2_code_free_8(code)
    }

    /// Whether the pattern occurs anywhere in `subject`.
    func firstMatch(in subject: UnsafeRawBufferPointer, context: OpaquePointer?) -> Outcome {
        let base = subject.baseAddress?.assumingMemoryBound(to: UInt8.self)
        // PCRE2 wants a non-null subject even when it is empty.
        let empty: [UInt8] = [0]
        let result = empty.withUnsafeBufferPointer { fallback in
            pcre2_match_8(code, base ?? fallback.baseAddress, subject.count, 0, 0, matchData, context)
        }
        if result >= 0 { return .found }
        if result == PCRE2_ERROR_NOMATCH { return .notFound }
        return .gaveUp(Self.message(for: result))
    }

    func firstMatch(in subject: [UInt8], context: OpaquePointer?) -> Outcome {
        subject.withUnsafeBytes { firstMatch(in: $0, context: context) }
    }

    static func message(for code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = pcre2_get_error_message_8(code, &buffer, buffer.count)
        guard length > 0 else { return "PCRE2 error \(code)" }
        return String(decoding: buffer[0..<Int(length)], as: UTF8.self)
    }
}

/// A `receive=` string that is not a valid regular expression.
struct ReceivePatternError: Error, Hashable, CustomStringConvertible {
    var pattern: String
    var message: String
    var offset: Int

    var description: String { "receive /\(pattern)/ is not a valid regular expression: \(message) at offset \(offset)" }
}

/// The loop's compiled receive patterns, by source text, with one match context (limits and
/// JIT stack) shared by every match. Not thread-safe: used only on the loop.
final class ReceivePatternCache {
    private var patterns: [String: Result<ReceivePattern, ReceivePatternError>] = [:]
    private let matchContext: OpaquePointer?
    private let jitStack: OpaquePointer?
    /// Backtracking steps one match may take: a fraction of a second on these machines.
    static let matchLimit: UInt32 = 5_000_000
    private static let capacity = 4096

    init() {
        matchContext = pcre2_match_context_create_8(nil)
        jitStack = pcre2_jit_stack_create_8(32 * 1024, 1024 * 1024, nil)
        if let matchContext {
            pcre2_set_match_limit_8(matchContext, Self.matchLimit)
            pcre2_set_depth_limit_8(matchContext, 100_000)
            if let jitStack { pcre2_jit_stack_assign_8(matchContext, nil, UnsafeMutableRawPointer(jitStack)) }
        }
    }

    deinit {
        if let matchContext { pcre2_match_context_free_8(matchContext) }
        if let jitStack { pcre2_jit_stack_free_8(jitStack) }
    }

    func pattern(_ source: String) -> Result<ReceivePattern, ReceivePatternError> {
        if let cached = patterns[source] { return cached }
        if patterns.count >= Self.capacity { patterns.removeAll(keepingCapacity: true) }
        let compiled: Result<ReceivePattern, ReceivePatternError>
        do {
            compiled = .success(try ReceivePattern(source))
        } catch {
            compiled = .failure(error)
        }
        patterns[source] = compiled
        return compiled
    }

    func match(_ source: String, in subject: [UInt8]) -> Result<ReceivePattern.Outcome, ReceivePatternError> {
        pattern(source).map { $0.firstMatch(in: subject, context: matchContext) }
    }
}

/// ldirectord's test for "no receive string": `!($receive =~ /.+/)`, true for "" and for a
/// string of newlines only. Such a check accepts any content.
func receiveIsEmpty(_ receive: String) -> Bool {
    !receive.unicodeScalars.contains { $0 != "\n" }
}

extension HealthCheck {
    /// The checks that match `receive` as a regular expression: HTTP, LDAP, FTP, DNS,
    /// simpletcp (the others compare nothing, or rows).
    var usesReceivePattern: Bool {
        switch type {
        case .negotiate, .combined:
            [.http, .https, .httpProxy, .ldap, .ldaps, .ftp, .dns, .simpletcp].contains(service)
        default: false
        }
    }

    /// Why this check's `receive=` string cannot be used as a regular expression, or nil when
    /// it can (or is empty). For `directord check-config`: ldirectord only finds out when the
    /// check runs (and Perl dies).
    public var receiveProblem: String? {
        guard usesReceivePattern, !receiveIsEmpty(receive) else { return nil }
        do {
            _ = try ReceivePattern(receive, jit: false)
            return nil
        } catch {
            return error.description
        }
    }
}
