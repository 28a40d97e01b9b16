public struct ChatMessage: Equatable, Sendable {
    public var role: String      // "system", "user" or "assistant"
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// The chat formats Bittern renders. GGUF files carry a Jinja template (`tokenizer.chat_template`); rather
/// than run Jinja, Bittern recognises the families it knows from marker strings in that template and renders
/// them natively. A file whose template is unknown can still chat by naming a family explicitly.
public enum ChatTemplate: String, CaseIterable, Sendable {
    /// BitNet b1.58 2B4T: "<|begin_of_text|>System: s<|eot_id|>User: u<|eot_id|>Assistant: a<|eot_id|>..."
    case bitnet
    /// Llama 3: "<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>"
    case llama3
    /// ChatML: "<|im_start|>role\ncontent<|im_end|>\n"
    case chatml

    /// The family a Jinja template string belongs to, or nil.
    public static func detect(_ jinja: String) -> ChatTemplate? {
        if jinja.contains("<|start_header_id|>") { return .llama3 }
        if jinja.contains("<|im_start|>") { return .chatml }
        if jinja.contains("Assistant: ") && (jinja.contains("User: ") || jinja.contains("'User'")) { return .bitnet }
        return nil
    }

    /// The template of a model: `name` when given ("bitnet", "llama3", "chatml"), else detected from the
    /// file's template.
    public static func resolve(name: String?, model: BitNetModel) throws -> ChatTemplate {
        if let n = name, !n.isEmpty {
            guard let t = ChatTemplate(rawValue: n) else {
                throw BitternError.invalidArgument("unknown chat template '\(n)' (known: \(allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return t
        }
        guard let jinja = model.chatTemplate else {
            throw BitternError.unsupported("\(model.path) has no tokenizer.chat_template; name a template (\(allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let t = detect(jinja) else {
            throw BitternError.unsupported("\(model.path): its chat template is not one Bittern knows; name a template (\(allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return t
    }

    /// The prompt text for the conversation (special tokens as text: tokenize it with special parsing on
    /// and without adding BOS, the template writes it). With `addAssistantPrompt` it ends where the
    /// assistant's reply begins.
    public func render(_ messages: [ChatMessage], bos: String, addAssistantPrompt: Bool = true) throws -> String {
        for m in messages where !["system", "user", "assistant"].contains(m.role) {
            throw BitternError.invalidArgument("chat: unknown role '\(m.role)' (system, user, assistant)")
        }
        var s = bos
        switch self {
        case .bitnet:
            for m in messages {
                let label = m.role == "system" ? "System" : m.role == "user" ? "User" : "Assistant"
                s += "\(label): \(m.content)<|eot_id|>"
            }
            if addAssistantPrompt { s += "Assistant: " }
        case .llama3:
            for m in messages { s += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(m.content)<|eot_id|>" }
            if addAssistantPrompt { s += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        case .chatml:
            s = ""
            for m in messages { s += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addAssistantPrompt { s += "<|im_start|>assistant\n" }
        }
        return s
    }

    /// The prompt tokens for the assistant's next reply, and whether the reply's first piece should lose a
    /// leading space. A prompt that ends in a space ("Assistant: ") would leave that space as a token of
    /// its own with a byte-level BPE vocabulary, where words carry their leading space (" Hello"); the
    /// model then starts its reply mid-word, and the next turn's rendering ("Assistant: Hello" ->
    /// ":", " Hello") no longer matches the cached tokens. So the space is left to the model's first token
    /// and removed from the text shown.
    public func replyPrompt(_ messages: [ChatMessage], tokenizer tok: Tokenizer) throws -> (tokens: [Int32], dropLeadingSpace: Bool) {
        let bos = tok.bos.map { String(decoding: tok.piece($0), as: UTF8.self) } ?? ""
        var text = try render(messages, bos: bos, addAssistantPrompt: true)
        var drop = false
        if case .byteLevelBPE = tok.kind, text.hasSuffix(" ") {
            text.removeLast()
            drop = true
        }
        return (tok.encode(text, addSpecial: false, parseSpecial: true), drop)
    }

    /// A Jinja template of this family, for files Bittern writes.
    public var jinja: String {
        switch self {
        case .bitnet:
            return "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}System: {% elif message['role'] == 'user' %}User: {% else %}Assistant: {% endif %}{{ message['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}"
        case .llama3:
            return "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
        case .chatml:
            return "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        }
    }
}
