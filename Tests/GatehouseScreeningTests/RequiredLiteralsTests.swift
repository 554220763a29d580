import Testing

@testable import GatehouseScreening

/// The literal prefilter never refuses a subject PCRE2 would match.
@Suite struct RequiredLiteralsTests {
    static func literals(_ pattern: String) -> [String] {
        RequiredLiterals.of(pattern).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func microsoftShapes() {
        #expect(Self.literals("(?=.*autodiscover)(?=.*powershell)") == ["autodiscover", "powershell"])
        #expect(Self.literals("X-AnonResource-Backend") == ["x-anonresource-backend"])
        #expect(Self.literals("(.*)X-BEResource=(.+)/(.+)~(.+)") == ["x-beresource="])
        #expect(Self.literals(".*autodiscover\\.json.*\\@.*Powershell.*") == ["autodiscover.json", "powershell"])
        #expect(Self.literals("X-BEResource=[^;]*/[^;]*~") == ["x-beresource="])
    }

    @Test func uncertainPartsGiveNothing() {
        #expect(Self.literals("abc|defg").isEmpty)  // alternation
        #expect(Self.literals("(?:abc|def)ghij") == ["ghij"])  // alternation inside a group
        #expect(Self.literals("(?!admin)user") == ["user"])  // negative lookahead
        #expect(Self.literals("(?<!abc)xyz") == ["xyz"])
        #expect(Self.literals("abcd?e") == ["abc"])  // optional letter
        #expect(Self.literals("(abcd)?efg") == ["efg"])  // optional group
        #expect(Self.literals("(abcd){0,3}efg") == ["efg"])
        #expect(Self.literals("(abcd)+") == ["abcd"])
        #expect(Self.literals("ab{2}cde") == ["cde"])  // a run ends at a quantifier
        #expect(Self.literals("\\x41bcd").isEmpty)  // letter escapes: give up
        #expect(Self.literals("(?i)abc").isEmpty)  // inline options: give up
        #expect(Self.literals("(?<name>abc)").isEmpty)
        #expect(Self.literals("\\Qa.b\\E").isEmpty)
        #expect(Self.literals("[abc]def[]x]ghi[[:alpha:]]jkl") == ["def", "ghi", "jkl"])
        #expect(Self.literals("a{,3}bcd").isEmpty)  // a brace PCRE2 reads literally
        #expect(Self.literals("abc)").isEmpty)
    }

    /// Differential: for every pattern and subject, a PCRE2 match implies the prefilter passes.
    @Test func neverRefusesWhatPCRE2Matches() throws {
        let patterns = [
            "(?=.*autodiscover)(?=.*powershell)", "X-AnonResource-Backend", "(.*)X-BEResource=(.+)/(.+)~(.+)",
            ".*autodiscover\\.json.*\\@.*Powershell.*", "abc|defg", "(?:abc|def)ghij", "(?!admin)user", "abcd?e",
            "(abcd)?efg", "(abcd)+x", "ab{2}cde", "[abc]def", "^/owa/.*\\.aspx$", "x+y+z+", "(?<=ab)cd", "a.b.c",
            "(?=.*(?:secret|hidden))word", "é+tude", "a\\.b\\-c"
        ]
        let subjects = [
            "", "/autodiscover/autodiscover.json?@x/PowerShell/", "/POWERSHELL?AUTODISCOVER", "X-BEResource=a/b~1",
            "x-anonresource-backend=1", "abc", "defg", "defghij", "abcghij", "user", "adminuser", "abce", "abcde",
            "efg", "abcdabcdx", "abbcde", "acdef", "/owa/auth/logon.aspx", "xxyyzz", "abcd", "aXbXc", "hiddenword",
            "secretWORD", "éétude", "a.b-c", "AUTODISCOVER.JSON@POWERSHELL"
        ]
        for pattern in patterns {
            for caseless in [true, false] {
                let compiled = try Pattern(pattern, caseInsensitive: caseless)
                for subject in subjects {
                    var text = subject
                    text.withUTF8 { bytes in
                        if compiled.engineMatches(bytes) {
                            #expect(compiled.matches(bytes), "prefilter refused '\(subject)' for '\(pattern)'")
                        } else {
                            #expect(!compiled.matches(bytes))
                        }
                    }
                }
            }
        }
    }
}
