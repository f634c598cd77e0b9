import ArgumentParser
import Foundation
import SwitchboardCore
import Yams

/// `switchboard apply FILE [--dry-run] [--yes]`: a reviewed list of batch operations, run in order, each as its own
/// batch, in either mode (issue 22). The file's shape is checked before anything runs; what only the database can
/// judge (handles, ids, rules) fails at its step, which stops the run.
struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the batch operations of a JSON or YAML file in order, each as its own batch (--dry-run previews them all).",
        discussion: """
            The file holds `steps` (and optionally a `campaign` for all of them); each step names an `operation` \
            (reassign-all, reassign-some, unassign-all, reassign, undo or handoff) and that command's options, e.g.

              campaign: 3
              steps:
                - {operation: reassign-all, from: kevin, status: needs-reply, to: [rebecca, maria], note: shift}
                - {operation: reassign-some, from-unassigned: true, to: all, count: 200}
                - {operation: unassign-all, from: zed}
            """)
    @OptionGroup var options: GlobalOptions
    @Argument(help: "The plan: a .json, .yaml or .yml file.") var file: String
    @Option(name: .customLong("actor"), help: "Who is doing this, for history (default: the OS user; refused with --server).")
    var givenActor: String?
    @Flag(help: "Rehearse every step (each seeing the ones before it) and print the senders' counts before → after; change nothing.")
    var dryRun = false
    @Flag(help: "Do not ask for confirmation of Unassign All and Undo steps.") var yes = false
    @Option(help: "With --server: the base of each step's Idempotency-Key (step N sends BASE-N); run again with the same one to finish an interrupted file without repeating a step.")
    var idempotencyKey: String?

    func run() async throws {
        let plan = try Self.read(file)
        let options = options
        let report = try await options.withBackend(idempotencyKey: idempotencyKey) { backend in
            let actor = try BatchOptions.actor(givenActor, backend)
            if dryRun { return Report(dryRun: true, preview: try await backend.preview(plan, actor: actor)) }
            if let risky = plan.steps.first(where: \.needsConfirmation) {
                try askToConfirm("This file runs \(plan.steps.count) steps, including step \(risky.number) (\(risky.summary)).",
                                 expected: "apply", yes: yes)
            }
            return try await Self.apply(plan, backend, actor: actor)
        }
        try options.emit(report) { report.text }
        if let failure = report.failure { throw Failed(error: failure) }
    }

    /// The run stopped at a step: its report is printed; this carries the exit code without printing again.
    struct Failed: Error { let error: SwitchboardError }

    static func read(_ file: String) throws -> Plan {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw SwitchboardError(.invalid, "unreadable_file", "File '\(file)' cannot be read.")
        }
        let document: Any?
        do {
            document = try Yams.load(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            let reason = String(describing: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            throw SwitchboardError(.invalid, "invalid_plan", "File '\(file)' is not valid JSON or YAML: \(reason).")
        }
        return try Plan(document: document, name: "File '\(file)'")
    }

    /// Each step as its own batch, in order, each with its own Idempotency-Key; the first failure stops the run.
    static func apply(_ plan: Plan, _ backend: any Backend, actor: String) async throws -> Report {
        var report = PlanPreview()
        for step in plan.steps {
            if report.steps.contains(where: { $0.state == "failed" }) {
                report.steps.append(.init(step: step.number, operation: step.summary, state: "not_run"))
                continue
            }
            do {
                let result = try await run(step, backend.forStep(step.number), actor: actor)
                report.steps.append(.init(step: step.number, operation: step.summary, state: "done", result: result))
            } catch let error as SwitchboardError {
                report.steps.append(.init(step: step.number, operation: step.summary, state: "failed", error: .init(error)))
            }
        }
        return Report(dryRun: false, preview: report)
    }

    static func run(_ step: Plan.Step, _ backend: any Backend, actor: String) async throws -> BatchResult {
        switch step.operation {
        case .bulk(var request):
            request.actor = actor
            return try await backend.bulk(request, onStart: nil)
        case .unassignAll(let campaignID, let from, let status, let note, let filter):
            // The file was confirmed as a whole; each Unassign All still runs on its own fresh token.
            let preview = try await backend.previewUnassignAll(campaignID: campaignID, from: from, status: status,
                                                               actor: actor, filter: filter)
            return try await backend.unassignAll(campaignID: campaignID, from: from, status: status, actor: actor,
                                                 token: preview.token, dryRun: false, note: note, filter: filter,
                                                 previewToken: nil)
        case .reassign(let conversationID, let to, let campaignID, let note):
            return try await backend.reassign(conversationID: conversationID, to: to, actor: actor, dryRun: false,
                                              note: note, campaignID: campaignID)
        case .undo(let batchID, let note):
            return try await backend.undo(batchID: batchID, actor: actor, dryRun: false, note: note)
        case .handoff(var request):
            request.actor = actor
            return try await backend.handoff(request)
        }
    }
}

/// What `apply` prints: each step's outcome and, for a dry run, the counts before → after.
struct Report: Encodable {
    let dryRun: Bool
    let preview: PlanPreview

    enum CodingKeys: String, CodingKey { case dryRun = "dry_run", steps, counts, failedStep = "failed_step" }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(dryRun, forKey: .dryRun)
        try container.encode(preview.steps, forKey: .steps)
        if dryRun { try container.encode(preview.counts, forKey: .counts) }
        try container.encode(failedStep, forKey: .failedStep)
    }

    var failedStep: Int? { preview.steps.first { $0.state == "failed" }?.step }
    var failure: SwitchboardError? { preview.steps.lazy.compactMap(\.error).first?.error }

    var text: String {
        var lines: [String] = []
        for entry in preview.steps {
            let head = "\(entry.step). \(entry.operation)"
            if let result = entry.result {
                var line = "\(head): \(dryRun ? "would move" : "moved") \(result.moved) of \(result.matched)"
                if let batch = result.batchID { line += ", batch \(batch)" }
                lines.append(line + ".")
            } else if let error = entry.error {
                lines.append("\(head): FAILED: \(error.message)")
            } else {
                lines.append("\(head): not run.")
            }
        }
        if dryRun {
            let multiple = Set(preview.counts.map(\.campaign_id)).count > 1
            let header = (multiple ? ["CAMPAIGN"] : []) + ["SENDER", "BEFORE", "AFTER", "CHANGE"]
            let rows = preview.counts.map { count -> [String] in
                let change = count.after - count.before
                return (multiple ? [String(count.campaign_id)] : [])
                    + [count.handle, String(count.before), String(count.after), change == 0 ? "" : (change > 0 ? "+\(change)" : "\(change)")]
            }
            if !rows.isEmpty { lines += ["", table(header, rows)] }
            lines.append(failure == nil ? "Dry run: nothing was changed."
                         : "Dry run: nothing was changed; apply would stop at step \(failedStep!).")
        } else if let failedStep {
            let ran = preview.steps.compactMap { entry -> String? in
                guard let result = entry.result else { return nil }
                return "\(entry.step) (\(result.batchID.map { "batch \($0)" } ?? "nothing to move"))"
            }
            lines.append("Stopped at step \(failedStep). Ran: \(ran.isEmpty ? "none" : ran.joined(separator: ", ")); "
                         + "undo a batch with: switchboard undo --batch ID.")
        } else {
            lines.append("All \(preview.steps.count) steps ran.")
        }
        return lines.joined(separator: "\n")
    }
}
