import Foundation
import Testing

@testable import Gatehouse

/// Bytes that are not YAML text (control characters) are refused by libyaml's reader, which reports
/// a byte offset rather than a line: the diagnostic must still name the line and column.
/// Found by the FuzzConfig fuzzer (Tests/Fuzz): the error used to carry line 0.
@Suite struct ConfigReaderErrorTests {
    @Test func controlCharacterIsReportedAtItsLineAndColumn() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        // Column 13: "  - name: hé" is 12 Unicode scalars (13 bytes) before the BEL.
        let errors = try fixture.errors("listeners:\n  - name: hé\u{07}x\n")
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect(error.line == 2 && error.column == 13)
        #expect(error.message == "invalid YAML: control characters are not allowed")
        #expect(error.description.hasPrefix("\(fixture.path("conf/test.yaml")):2:13: error: "))
        #expect(error.hint?.contains("UTF-8 text") == true)
    }

    @Test func positionOfByteCountsLinesAndScalars() {
        let text = "a: 1\nb: é\u{01}\n"
        #expect(GatehouseConfiguration.position(ofByte: 0, in: text) == (1, 1))
        #expect(GatehouseConfiguration.position(ofByte: 5, in: text) == (2, 1))
        // "b: é" is 5 bytes, 4 scalars: the control byte at offset 10 is column 5.
        #expect(GatehouseConfiguration.position(ofByte: 10, in: text) == (2, 5))
        #expect(GatehouseConfiguration.position(ofByte: 100, in: text) == (3, 1))
    }

    /// Lines are numbered as libyaml numbers them in its syntax errors: CR LF, a lone CR and the
    /// Unicode breaks each end one line. (FuzzConfig found the two numberings apart.)
    @Test func positionOfByteCountsLineBreaksAsLibyaml() {
        let text = "a\r\nb\rc\u{2028}d\ne\u{07}"
        // Bytes: a CR LF b CR c LS(3) d LF e BEL; the BEL is byte 12, on line 5, column 2.
        #expect(GatehouseConfiguration.position(ofByte: 12, in: text) == (5, 2))
        #expect(GatehouseConfiguration.position(ofByte: 2, in: text) == (2, 1))
    }

    @Test func readerErrorAfterLoneCarriageReturnsUsesYAMLLineNumbers() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let errors = try fixture.errors("listeners:\r  - name: a\r  - name: b\u{01}\n")
        let error = try #require(errors.first)
        #expect(error.line == 3 && error.column == 12, "\(errors)")
    }
}
