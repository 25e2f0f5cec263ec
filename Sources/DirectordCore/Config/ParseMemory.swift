/// What one parse of a file keeps for the next: each virtual block as written and what
/// resolving it gave (the service, its errors and warnings). A reload of a file of 10,000 real
/// servers with one line changed resolves only the block that holds it; the others are taken
/// as they were.
///
/// A block is taken again only when nothing its resolution reads can have changed: the same
/// file, its bytes from its `virtual=` line to its last line, starting at the same line (line
/// numbers are in its warnings and real servers), the same global settings, global fallback
/// and host name, and no name looked up while resolving it (a host or service name may
/// resolve differently now, and a reload re-resolves names, as ldirectord's does). What spans
/// blocks (duplicate services) is judged again on every parse. The result is the one a full
/// parse gives: tests hold the two to each other.
public struct ParseMemory: Sendable {
    struct Block: Sendable {
        var text: Substring
        var service: VirtualService?
        var errors: [ConfigError]
        var warnings: [ConfigWarning]
    }

    /// What every block's resolution depends on beyond its own lines.
    struct Context: Equatable, Sendable {
        var file: String
        var hostName: String
        var globals: GlobalSettings
        var globalFallback: [String]
    }

    var context: Context?
    /// By the line number of the block's `virtual=` line.
    var blocks: [Int: Block] = [:]

    public init() {}

    /// Blocks remembered for the next parse.
    public var blockCount: Int { blocks.count }
    /// Blocks the parse that made this memory took from the one before instead of resolving.
    public internal(set) var reusedBlocks = 0
}

extension ParseSession {
    /// What the blocks' resolution depends on beyond their lines, once the globals are final.
    var memoryContext: ParseMemory.Context {
        ParseMemory.Context(
            file: file, hostName: resolver.hostName, globals: globals,
            globalFallback: globalFallback.map { "\($0.key) \($0.value.1.number) \($0.value.1.raw)" }.sorted())
    }

    /// ``resolveVirtual(_:)``, or what the last parse's memory says it gave for the same block.
    mutating func resolveVirtualRemembering(_ draft: VirtualDraft, context: ParseMemory.Context) -> VirtualService? {
        let text = draft.text
        let number = draft.line.number
        if memory.context == context, let block = memory.blocks[number], block.text.utf8.elementsEqual(text.utf8) {
            errors += block.errors
            warnings += block.warnings
            rememberedBlocks.blocks[number] = block
            rememberedBlocks.reusedBlocks += 1
            return block.service
        }
        let (errorsBefore, warningsBefore, lookupsBefore) = (errors.count, warnings.count, resolverLookups)
        let service = resolveVirtual(draft)
        if resolverLookups == lookupsBefore {
            rememberedBlocks.blocks[number] = ParseMemory.Block(
                text: text, service: service, errors: Array(errors[errorsBefore...]),
                warnings: Array(warnings[warningsBefore...]))
        }
        return service
    }
}
