// libFuzzer entry point for directord's HTTP/1.x response reader, compiled with
// Sources/DirectordChecks/HTTP/HTTPResponseParser.swift alone by fuzz/run. Whatever a server
// sends, the reader must never trap or hang, keep at most its body limit, and reach the same
// verdict whether the bytes arrive at once or in the pieces the input's first byte chooses.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPResponseParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 1 else { return 0 }
    let piece = Int(data[0] % 17) + 1
    let isHead = data[1] & 1 == 1
    let bytes = Array(UnsafeBufferPointer(start: data + 2, count: size - 2))
    let limit = 4096

    func run(pieceSize: Int) -> (HTTPResponseParser.Progress, HTTPResponseParser.Head?, [UInt8]) {
        var parser = HTTPResponseParser(bodyLimit: limit, isHeadRequest: isHead)
        var progress = HTTPResponseParser.Progress.needMore
        var offset = 0
        while offset < bytes.count {
            progress = parser.consume(Array(bytes[offset..<min(bytes.count, offset + pieceSize)]))
            offset += pieceSize
            if progress == .complete { break }
            if case .malformed = progress { break }
        }
        if progress == .needMore || progress == .headReceived { progress = parser.endOfInput() }
        precondition(parser.body.count <= limit, "kept \(parser.body.count) bytes of body, limit \(limit)")
        return (progress, parser.head, parser.body)
    }

    let whole = run(pieceSize: max(1, bytes.count))
    let pieces = run(pieceSize: piece)
    // The head and, for a response read to its end, the body do not depend on the pieces.
    precondition(whole.1 == pieces.1, "head differs: \(String(describing: whole.1)) / \(String(describing: pieces.1))")
    if whole.0 == .complete && pieces.0 == .complete {
        precondition(whole.2 == pieces.2, "body differs with pieces of \(piece)")
    }
    return 0
}
