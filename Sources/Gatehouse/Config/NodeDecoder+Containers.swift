import Yams

/// The keyed container of `NodeDecoder`: a YAML mapping.
struct NodeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let mapping: Node.Mapping
    /// True for `[String: T]` mappings, whose keys are names rather than fixed field names.
    let isDictionary: Bool

    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { mapping.keys.compactMap { $0.scalar?.string }.compactMap(Key.init(stringValue:)) }

    func contains(_ key: Key) -> Bool { mapping[key.stringValue] != nil }

    func decodeNil(forKey key: Key) throws -> Bool { mapping[key.stringValue]?.isNull ?? true }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        guard let node = mapping[key.stringValue] else {
            throw NodeDecodingFailure(
                message: "missing key '\(key.stringValue)' in \(decoder.mappingPlace)", mark: decoder.node.mark)
        }
        return try T(from: decoder.child(node, key: key, isDictionaryEntry: isDictionary))
    }

    /// Absent or null is nil; a value that fails to decode is recorded and also yields nil, so the
    /// rest of the document is still checked.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let node = mapping[key.stringValue], !node.isNull else { return nil }
        do {
            return try T(from: decoder.child(node, key: key, isDictionaryEntry: isDictionary))
        } catch let failure as NodeDecodingFailure {
            decoder.collector.error(failure.message, at: failure.mark, hint: failure.hint)
            return nil
        }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        guard let node = mapping[key.stringValue] else { throw missing(key) }
        return try decoder.child(node, key: key, isDictionaryEntry: isDictionary).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        guard let node = mapping[key.stringValue] else { throw missing(key) }
        return try decoder.child(node, key: key, isDictionaryEntry: isDictionary).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        guard let node = mapping[key.stringValue] else { throw missing(key) }
        return decoder.child(node, key: key, isDictionaryEntry: isDictionary)
    }

    private func missing(_ key: Key) -> NodeDecodingFailure {
        NodeDecodingFailure(message: "missing key '\(key.stringValue)' in \(decoder.mappingPlace)", mark: decoder.node.mark)
    }

    // The protocol's per-type requirements, all routed through the generic paths above.
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(type, key) }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try decodeIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try decodeIfPresent(type, key) }

    private func decode<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        try decode(type as T.Type, forKey: key)
    }

    private func decodeIfPresent<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        try decodeIfPresent(type as T.Type, forKey: key)
    }
}

/// The unkeyed container of `NodeDecoder`: a YAML sequence.
struct NodeUnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    let elements: [Node]
    private(set) var currentIndex = 0

    init(decoder: NodeDecoder, elements: [Node]) {
        self.decoder = decoder
        self.elements = elements
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw pastEnd() }
        if elements[currentIndex].isNull {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: nextDecoder())
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try nextDecoder().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try nextDecoder().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try nextDecoder() }

    /// The decoder for the next item, advancing past it.
    private mutating func nextDecoder() throws -> NodeDecoder {
        guard !isAtEnd else { throw pastEnd() }
        let child = decoder.element(elements[currentIndex], index: currentIndex)
        currentIndex += 1
        return child
    }

    private func pastEnd() -> NodeDecodingFailure {
        decoder.failure("\(decoder.place) has fewer items than expected")
    }
}

/// The single-value container of `NodeDecoder`: a YAML scalar, converted strictly.
struct NodeSingleValueContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.node.isNull }

    /// The scalar text, or a failure naming what was found instead.
    private func scalarText(expecting what: String) throws -> String {
        guard let scalar = decoder.node.scalar else {
            throw decoder.failure("\(decoder.place) must be \(what), found \(decoder.kindDescription)")
        }
        return scalar.string
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        _ = try scalarText(expecting: "true or false")
        guard let value = decoder.node.bool else {
            throw decoder.failure("\(decoder.place) must be true or false, found \(decoder.kindDescription)")
        }
        return value
    }

    func decode(_ type: String.Type) throws -> String {
        try scalarText(expecting: "a single value")
    }

    func decode(_ type: Int.Type) throws -> Int {
        let text = try scalarText(expecting: "a whole number")
        // Plain decimal only: YAML 1.1 would also read `1:30` (sexagesimal) or `0o17` as numbers.
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }), let value = Int(text) else {
            throw decoder.failure("\(decoder.place) must be a whole number, found \(decoder.kindDescription)")
        }
        return value
    }

    func decode(_ type: Double.Type) throws -> Double {
        let text = try scalarText(expecting: "a number")
        guard let value = Double(text) else {
            throw decoder.failure("\(decoder.place) must be a number, found \(decoder.kindDescription)")
        }
        return value
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
    func decode(_ type: Int8.Type) throws -> Int8 { try narrow(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try narrow(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try narrow(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try narrow(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try narrow(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try narrow(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try narrow(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try narrow(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try narrow(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: decoder) }

    /// An `Int` converted to a narrower integer type, refusing values that do not fit.
    private func narrow<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let value = try decode(Int.self)
        guard let narrowed = T(exactly: value) else {
            throw decoder.failure("\(decoder.place) is out of range (\(T.min)...\(T.max))")
        }
        return narrowed
    }
}

/// A decoded value with where it was written, for validation messages after decoding.
struct Located<Value: Codable>: Codable {
    /// The value.
    var value: Value
    /// The position of the value in the file.
    var mark: Mark?
    /// The value in words: `'address' in listener 'https'`, `listener 'https'`.
    var place: String
    /// For a mapping, the keys written in it (including those whose values failed to decode), so
    /// that a key with a bad value is not also reported as missing.
    var writtenKeys: Set<String>

    init(from decoder: any Decoder) throws {
        value = try Value(from: decoder)
        let nodeDecoder = decoder as? NodeDecoder
        mark = nodeDecoder?.node.mark
        place = nodeDecoder?.place ?? ""
        writtenKeys = Set((nodeDecoder?.node.mapping?.keys).map { $0.compactMap { $0.scalar?.string } } ?? [])
    }

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
    }
}
