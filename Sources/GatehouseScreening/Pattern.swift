import CPCRE2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One operator-written regular expression, compiled once by PCRE2 (with JIT where the platform
/// has it) and matched against request bytes on the data path.
///
/// The 8-bit library without UTF mode: subjects are bytes (a decoded URI need not be UTF-8), and
/// case-insensitivity folds ASCII letters, as the IIS URL Rewrite patterns it replaces expect.
/// `pcre2_code` is read-only once compiled and PCRE2 documents it as safe to share between
/// threads; matching uses a match block owned by the calling thread (`MatchScratch`).
public final class Pattern: @unchecked Sendable {  // immutable after init; pcre2_code is shareable
    /// The pattern as written.
    public let source: String
    /// Whether it was compiled case-insensitively.
    public let caseInsensitive: Bool
    /// Whether PCRE2's JIT compiled it (matching then takes the JIT fast path).
    public let isJIT: Bool
    /// Literals every match contains (lower case), checked before PCRE2 runs; empty when the
    /// pattern's source says nothing certain (see `RequiredLiterals`).
    let requiredLiterals: [[UInt8]]
    private let code: OpaquePointer

    /// A pattern PCRE2 refused, with its message and the byte offset in the pattern where it stopped.
    public struct CompileError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var offset: Int
        public var description: String { "\(message) (at offset \(offset) of the pattern)" }
    }

    /// Compiles `source`; throws `CompileError` when PCRE2 refuses it.
    public init(_ source: String, caseInsensitive: Bool = true) throws(CompileError) {
        var errorCode: Int32 = 0
        var errorOffset = 0
        let options: UInt32 = caseInsensitive ? PCRE2_CASELESS : 0
        let compiled = source.utf8CString.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: UInt8.self) { bytes in
                // Length excludes the terminating NUL that utf8CString adds.
                pcre2_compile_8(bytes.baseAddress, bytes.count - 1, options, &errorCode, &errorOffset, nil)
            }
        }
        guard let compiled else {
            throw CompileError(message: Self.message(for: errorCode), offset: errorOffset)
        }
        self.source = source
        self.caseInsensitive = caseInsensitive
        self.code = compiled
        // JIT is an optimisation: a platform without it (or a pattern it declines) still matches
        // through the interpreter, with the same results.
        self.isJIT = pcre2_jit_compile_8(compiled, PCRE2_JIT_COMPLETE) == 0
        self.requiredLiterals = RequiredLiterals.of(source)
    }

    deinit { pcre2_code_free_8(code) }

    /// Whether the pattern matches anywhere in `subject`.
    ///
    /// A match that PCRE2 gives up on (its match or depth limit, which only pathological patterns
    /// reach) counts as a match: a screening rule fails closed.
    public func matches(_ subject: UnsafeBufferPointer<UInt8>) -> Bool {
        // The prefilter: a subject without a required literal cannot match.
        if !requiredLiterals.isEmpty, !RequiredLiterals.allPresent(requiredLiterals, in: subject) { return false }
        return engineMatches(subject)
    }

    /// PCRE2's answer alone, without the prefilter (tests compare the two).
    func engineMatches(_ subject: UnsafeBufferPointer<UInt8>) -> Bool {
        let matchData = MatchScratch.current
        // An empty subject still needs a valid pointer.
        let base = subject.baseAddress ?? MatchScratch.emptySubject
        let result =
            isJIT
            ? pcre2_jit_match_8(code, base, subject.count, 0, 0, matchData, nil)
            : pcre2_match_8(code, base, subject.count, 0, 0, matchData, nil)
        // >= 0: matched (0 means the ovector was too small for the captures, still a match).
        return result != PCRE2_ERROR_NOMATCH
    }

    /// Whether the pattern matches anywhere in `subject` (its UTF-8 bytes).
    public func matches(_ subject: String) -> Bool {
        var subject = subject
        return subject.withUTF8 { matches($0) }
    }

    /// PCRE2's text for a compile error code.
    static func message(for code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = pcre2_get_error_message_8(code, &buffer, buffer.count)
        guard length > 0 else { return "PCRE2 error \(code)" }
        return String(decoding: buffer[..<Int(length)], as: UTF8.self)
    }
}

/// The match block each thread matches with: made on a thread's first match and reused for every
/// later one (one per event loop), freed when the thread exits. A match block is not tied to a
/// pattern: with room for the whole match only, it serves every pattern, because screening asks
/// whether a pattern matches, never what it captured.
enum MatchScratch {
    /// The thread-specific key; its destructor frees the thread's match block.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { pointer in
            // Called by the C library at thread exit with the value stored below.
            if let pointer { pcre2_match_data_free_8(OpaquePointer(pointer)) }
        }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// One zero byte, the subject pointer for empty subjects (never read: the length is 0).
    nonisolated(unsafe) static let emptySubject: UnsafePointer<UInt8> = {  // immutable, never freed
        let byte = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        byte.initialize(to: 0)
        return UnsafePointer(byte)
    }()

    /// This thread's match block.
    static var current: OpaquePointer {
        if let existing = pthread_getspecific(key) { return OpaquePointer(existing) }
        // One ovector pair: room for the whole match, which is all a yes/no answer needs.
        guard let created = pcre2_match_data_create_8(1, nil) else {
            fatalError("PCRE2 could not allocate a match block")
        }
        pthread_setspecific(key, UnsafeRawPointer(created))
        return created
    }
}
