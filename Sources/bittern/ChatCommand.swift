import Bittern
#if canImport(Glibc)
import Glibc
#endif

// `bittern chat`: an interactive conversation. Ctrl-C (SIGINT) while a reply streams stops that reply;
// at the prompt it only prints a hint. The conversation is re-rendered every turn and the context's
// common prefix is reused, so only the new turn is decoded.

nonisolated(unsafe) var chatInterrupted: sig_atomic_t = 0
nonisolated(unsafe) var chatGenerating: sig_atomic_t = 0

private func installInterruptHandler() {
    var sa = sigaction()
    sa.__sigaction_handler.sa_handler = { _ in
        chatInterrupted = 1
        if chatGenerating == 0 {
            let hint = "\n(Ctrl-C stops a reply; type /exit or press Ctrl-D to quit)\n> "
            _ = hint.withCString { write(1, $0, strlen($0)) }
        }
    }
    sigemptyset(&sa.sa_mask)
    sa.sa_flags = Int32(SA_RESTART)   // a read at the prompt goes on after Ctrl-C
    sigaction(SIGINT, &sa, nil)
}

func chatCommand(_ argv: [String]) throws -> Int32 {
    let a = try Arguments(argv, valued: modelValued.union(samplingValued).union(["system", "template", "n-predict"]),
                          flags: [], aliases: shortAliases)
    if a.flags.contains("help") { print(chatUsage); return 0 }
    guard a.positional.isEmpty else { throw UsageError("chat: unexpected argument '\(a.positional[0])'") }
    let sp = try samplerParams(a)
    let maxTokens = try a.int("n-predict") ?? 512
    guard maxTokens >= -1 else { throw UsageError("--n-predict must be >= -1") }
    let (model, _) = try loadModel(a)
    let tok = try requireTokenizer(model)
    let template = try ChatTemplate.resolve(name: a.options["template"], model: model)
    let ctx = try model.makeContext(nCtx: try contextSize(a, model), kvType: try kvType(a))
    let sampler = try Sampler(vocabSize: model.hparams.vocabSize, params: sp)
    let system = a.options["system"].map { [ChatMessage(role: "system", content: $0)] } ?? []
    var messages = system
    installInterruptHandler()
    printError("chat with \(model.path) (\(template.rawValue) format, context \(ctx.nCtx) tokens); /reset, /exit")
    while true {
        writeOut("> ")
        guard let raw = readLine(strippingNewline: true) else { writeOut("\n"); break }
        let line = raw.trimmingSpaces()
        if line.isEmpty { continue }
        if line == "/exit" || line == "/quit" { break }
        if line == "/reset" {
            messages = system
            ctx.reset()
            sampler.reset()
            print("(conversation cleared)")
            continue
        }
        messages.append(ChatMessage(role: "user", content: line))
        let (prompt, dropSpace) = try template.replyPrompt(messages, tokenizer: tok)
        var gen = Generator()
        gen.maxTokens = maxTokens
        gen.reusePrefix = true
        gen.dropLeadingSpace = dropSpace
        chatInterrupted = 0
        chatGenerating = 1
        let result: GenerationResult
        do {
            result = try gen.run(context: ctx, prompt: prompt, sampler: sampler) { text, _ in
                writeOut(text)
                return chatInterrupted == 0
            }
        } catch let e as BitternError where e.status == Status.contextFull {
            chatGenerating = 0
            messages.removeLast()
            printError("bittern: the conversation no longer fits the context (\(ctx.nCtx) tokens); /reset to start over")
            continue
        }
        chatGenerating = 0
        writeOut("\n")
        messages.append(ChatMessage(role: "assistant", content: result.text))
        switch result.finish {
        case .cancelled: printError("(reply stopped)")
        case .contextFull: printError("(the context is full; /reset to start over)")
        default: break
        }
    }
    return 0
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
