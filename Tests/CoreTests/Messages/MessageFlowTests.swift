import Foundation
import PostgresNIO
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Message flow")
struct MessageFlowTests {
    @Test("a conversation walks every transition of the contract")
    func transitions() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 3)
            let ids = try await f.conversationIDs()
            let messages = MessageService(database)
            _ = try await f.assignments.reassign(conversationID: ids[0], to: "kevin", actor: "t")

            var c = try await messages.record(.conversation(ids[0]), direction: .outbound, body: "Hi!", sender: "kevin").conversation
            #expect(c.status == .waiting && c.assignee == "kevin" && c.lastMessageAt != nil)
            c = try await messages.record(.phone(campaignID: f.campaign.id, phone: "555-200-0001"), direction: .inbound,
                                          body: "Who is this?").conversation
            #expect(c.status == .needsReply && c.unread)
            let rebecca = try await Directory(database).user(orgID: f.org.id, handle: "rebecca")
            let kevin = try await Directory(database).user(orgID: f.org.id, handle: "kevin")
            #expect(try await messages.open(conversationID: ids[0], by: rebecca.id).unread)
            #expect(try await !messages.open(conversationID: ids[0], by: kevin.id).unread)
            // A reply by someone who is not the assignee does not move it.
            c = try await messages.record(.conversation(ids[0]), direction: .outbound, body: "Reply", sender: "rebecca").conversation
            #expect(c.status == .waiting && c.assignee == "kevin")
            c = try await messages.close(conversationID: ids[0], sender: "kevin")
            #expect(c.status == .closed)
            // An inbound message reopens a closed conversation and keeps its assignee.
            c = try await messages.record(.conversation(ids[0]), direction: .inbound, body: "One more thing").conversation
            #expect(c.status == .needsReply && c.assignee == "kevin" && c.unread)
            c = try await messages.record(.conversation(ids[0]), direction: .inbound, body: "  sToP  ").conversation
            #expect(c.status == .optedOut)
            c = try await messages.record(.conversation(ids[0]), direction: .inbound, body: "hello again").conversation
            #expect(c.status == .optedOut, "opted out is terminal")
            let stored = try await database.query("SELECT count(*) FROM messages WHERE conversation_id = \(ids[0])")
            await expectCode("opted_out") {
                _ = try await messages.record(.conversation(ids[0]), direction: .outbound, body: "Please?", sender: "kevin")
            }
            await expectCode("opted_out") { _ = try await messages.close(conversationID: ids[0]) }
            let after = try await database.query("SELECT count(*) FROM messages WHERE conversation_id = \(ids[0])")
            #expect(try stored[0].decode(Int.self) == 6 && after[0].decode(Int.self) == 6)
            #expect(try await f.countsAddUp())
        }
    }

    @Test("the first replier claims an unassigned conversation, unless asked to leave it unassigned")
    func claimByReply() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 2)
            let ids = try await f.conversationIDs()
            let messages = MessageService(database)
            let left = try await messages.record(.conversation(ids[1]), direction: .outbound, body: "Hi", sender: "kevin",
                                                 leaveUnassigned: true)
            #expect(left.conversation.assignee == nil && left.claimBatchID == nil && left.conversation.status == .waiting)
            let claimed = try await messages.record(.conversation(ids[0]), direction: .outbound, body: "Hi", sender: "rebecca")
            #expect(claimed.conversation.assignee == "rebecca")
            let batch = try await HistoryService(database).batch(id: try #require(claimed.claimBatchID))
            #expect(batch.kind == "claim" && batch.moved == 1)
            #expect(try await f.historyReplays())
        }
    }

    @Test("bad messages are refused and nothing is stored", arguments: [
        ("", "invalid_body"), (String(repeating: "x", count: 1601), "invalid_body"),
    ])
    func badBodies(body: String, code: String) async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 1)
            let id = try await f.conversationIDs()[0]
            await expectCode(code) { _ = try await MessageService(database).record(.conversation(id), direction: .inbound, body: body) }
            let messages = MessageService(database)
            await expectCode("unknown_conversation") { _ = try await messages.record(.conversation(999_999), direction: .inbound, body: "x") }
            await expectCode("unknown_phone") {
                _ = try await messages.record(.phone(campaignID: f.campaign.id, phone: "+15559999999"), direction: .inbound, body: "x")
            }
            await expectCode("missing_sender") { _ = try await messages.record(.conversation(id), direction: .outbound, body: "x") }
            await expectCode("unknown_sender") {
                _ = try await messages.record(.conversation(id), direction: .outbound, body: "x", sender: "ghost")
            }
            await expectCode("not_a_sender") {
                _ = try await messages.record(.conversation(id), direction: .outbound, body: "x", sender: "ada")
            }
            #expect(throws: SwitchboardError.self) { try MessageService.Direction(parsing: "sideways") }
            let count = try await database.query("SELECT count(*) FROM messages")
            #expect(try count[0].decode(Int.self) == 0)
        }
    }

    @Test("a notification arrives for a committed batch and none for a rolled-back one")
    func notifications() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 4)
            let received = try await database.client.withConnection { connection in
                let stream = try await connection.listen(Notifications.channel)
                // Rolled back: the batch is recorded (and notifies), then the transaction fails.
                _ = try? await database.transaction { tx -> Int in
                    let service = f.assignments
                    let selection = AssignmentService.Selection(campaignID: f.campaign.id, source: .unassigned, sourceID: nil)
                    let kevin = try await service.sender("kevin", campaign: f.campaign, on: tx).id
                    let batch = try await service.nextBatchID(on: tx)
                    let outcome = try await service.move(selection, to: [kevin], starts: [0], batchID: batch, on: tx)
                    _ = try await service.recordIfMoved(batch, campaignID: f.campaign.id, kind: .reassignAll, actor: "t",
                                                        statusFilter: .any, parameters: [:], outcome: outcome, on: tx)
                    throw SwitchboardError(.invalid, "rollback", "Rolled back on purpose.")
                }
                let committed = try await f.assignments.reassignAll(f.request(.unassigned, .senders(["rebecca"])))
                var events: [Notifications.Event] = []
                for try await notification in stream {
                    events.append(try Notifications.Event(payload: notification.payload))
                    if events.last?.batchID == committed.batchID { break }
                }
                return events
            }
            #expect(received.count == 1)
            #expect(received.first?.sender == "rebecca" && received.first?.received == 4 && received.first?.removed == 0)
            #expect(received.first?.orgID == f.org.id && received.first?.kind == "reassign_all")
        }
    }

    @Test("a batch that swaps conversations between senders tells each one what it received and what it lost")
    func notificationTallies() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 6)
            // kevin gets the 3 oldest, rebecca the 3 newest; then the reverse order swaps them all.
            _ = try await f.assignments.reassignAll(f.request(.unassigned, .senders(["kevin", "rebecca"])))
            let events = try await database.client.withConnection { connection in
                let stream = try await connection.listen(Notifications.channel)
                let swapped = try await f.assignments.reassignAll(f.request(.anyone, .senders(["rebecca", "kevin"])))
                var events: [Notifications.Event] = []
                for try await notification in stream {
                    let event = try Notifications.Event(payload: notification.payload)
                    if event.batchID == swapped.batchID { events.append(event) }
                    if events.count == 2 { break }
                }
                return events
            }
            #expect(events.map { "\($0.sender) +\($0.received) -\($0.removed)" }.sorted() == ["kevin +3 -3", "rebecca +3 -3"])
            #expect(events.allSatisfy { $0.kind == "reassign_all" && $0.campaignID == f.campaign.id })
        }
    }

    @Test("queues agree with the sender list after a random mix of events and batch operations")
    func queues() async throws {
        try await TestDatabase.with { database in
            let handles = ["a", "b", "c"]
            let f = try await Fixture.make(database, senders: handles, conversations: 60,
                                           settings: .init(selfAssign: true, batchSize: 5, requireFinishedBatch: false))
            let ids = try await f.conversationIDs()
            let messages = MessageService(database)
            _ = try await f.assignments.reassignSome(f.request(.unassigned, .allActive, count: 30))
            for step in 0..<120 {
                let id = ids.randomElement()!
                let handle = handles.randomElement()!
                switch step % 6 {
                case 0: _ = try? await messages.record(.conversation(id), direction: .inbound, body: Bool.random() ? "STOP" : "hi")
                case 1: _ = try? await messages.record(.conversation(id), direction: .outbound, body: "hello", sender: handle)
                case 2: _ = try? await messages.close(conversationID: id)
                case 3: _ = try? await f.assignments.reassign(conversationID: id, to: Bool.random() ? handle : nil, actor: "t")
                case 4: _ = try? await SelfAssignService(database).requestMore(campaignID: f.campaign.id, sender: handle)
                default: _ = try? await f.assignments.reassignSome(f.request(.sender(handle), .allActive, count: 3))
                }
            }
            let list = try await SenderService(database).list(campaignID: f.campaign.id)
            let service = ConversationService(database)
            for sender in list.senders {
                let user = try await Directory(database).user(orgID: f.org.id, handle: sender.handle)
                var all: [Conversation] = []
                var cursor: String? = nil
                repeat {
                    let page = try await service.queue(userID: user.id, campaignID: f.campaign.id, limit: 7, cursor: cursor)
                    all += page.conversations
                    cursor = page.nextCursor
                } while cursor != nil
                #expect(all.count == sender.counts.total && Set(all.map(\.id)).count == all.count)
                let open = try await service.queue(userID: user.id, campaignID: f.campaign.id, filter: .open, limit: 1000)
                #expect(open.conversations.count == sender.counts.total - sender.counts[.closed] - sender.counts[.optedOut])
                for status in ConversationStatus.allCases {
                    let page = try await service.queue(userID: user.id, campaignID: f.campaign.id, filter: .status(status), limit: 1000)
                    #expect(page.conversations.count == sender.counts[status])
                }
            }
            let pool = try await service.queue(userID: nil, campaignID: f.campaign.id, limit: 1000)
            #expect(pool.conversations.count == list.unassigned.total)
            #expect(try await f.countsAddUp())
            var csv: [String] = []
            try await service.export(campaignID: f.campaign.id) { csv.append($0) }
            #expect(csv.count == 61)
        }
    }
}
