import Foundation
import Testing

@testable import GatehouseScreening

/// The PCRE2 boundary: compile once (JIT), match bytes, fail loudly on bad patterns.
@Suite struct PatternTests {
    @Test func lookaheadsMatchInEitherOrder() throws {
        let pattern = try Pattern("(?=.*autodiscover)(?=.*powershell)")
        #expect(pattern.matches("/autodiscover/autodiscover.json?@x/PowerShell/"))
        #expect(pattern.matches("/powershell/?a=AutoDiscover"))
        #expect(!pattern.matches("/autodiscover/autodiscover.xml"))
        #expect(!pattern.matches("/owa/powershell-team@contoso.com/"))
    }

    @Test func caseInsensitiveUnlessAsked() throws {
        #expect(try Pattern("X-BEResource=").matches("cookie: x-beresource=a"))
        #expect(!(try Pattern("X-BEResource=", caseInsensitive: false).matches("x-beresource=a")))
        #expect(try Pattern("X-BEResource=", caseInsensitive: false).matches("X-BEResource=a"))
    }

    @Test func jitIsUsedOnThisPlatform() throws {
        #expect(try Pattern("a+b").isJIT)
    }

    @Test func emptyAndNonUTF8Subjects() throws {
        #expect(try Pattern("^$").matches(""))
        #expect(!(try Pattern(".+").matches("")))
        let bytes: [UInt8] = [0x2F, 0xFF, 0xC0, 0x70]  // '/', invalid UTF-8, 'p'
        #expect(bytes.withUnsafeBufferPointer { (try? Pattern("\\xff\\xc0p"))?.matches($0) ?? false })
    }

    @Test func invalidPatternSaysWhereAndWhy() {
        do {
            _ = try Pattern("abc(def")
            Issue.record("compiled an unbalanced pattern")
        } catch {
            #expect(error.offset == 7)
            #expect(error.message.contains("missing closing parenthesis"))
        }
    }

    @Test func matchesFromManyThreadsAtOnce() async throws {
        let pattern = try Pattern("(?=.*autodiscover)(?=.*powershell)")
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let subject = index % 2 == 0 ? "/autodiscover/powershell" : "/owa/"
                    return (0..<500).allSatisfy { _ in pattern.matches(subject) == (index % 2 == 0) }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 })
    }
}
