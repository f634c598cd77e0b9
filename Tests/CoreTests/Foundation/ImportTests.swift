import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Contact import")
struct ImportTests {
    func conversationCount(_ database: Database, _ campaignID: Int64) async throws -> Int {
        try await database.query("SELECT count(*) FROM conversations WHERE campaign_id = \(campaignID)")[0].decode(Int.self)
    }

    @Test("imports in file order, normalises phones, keeps extra columns")
    func good() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database, conversations: 0)
            let csv = "Phone,Name,Precinct\n(555) 010-0001,\"Adams, Alice\",12\r\n+44 20 7946 0958,Bob,\n"
            let report = try await ContactImporter(database).importCSV(campaignID: fixture.campaign.id,
                                                                        data: Data(csv.utf8), fileName: "a.csv")
            #expect(report.imported == 2)
            let rows = try await database.query("""
                SELECT p.phone, p.name, p.fields->>'precinct', c.status, c.assignee_id IS NULL
                FROM conversations c JOIN contacts p ON p.campaign_id = c.campaign_id AND p.id = c.id
                WHERE c.campaign_id = \(fixture.campaign.id) ORDER BY c.created_at, c.id
                """)
            let decoded = try rows.map { try $0.decode((String, String, String?, String, Bool).self) }
            #expect(decoded[0] == ("+15550100001", "Adams, Alice", "12", "not_started", true))
            #expect(decoded[1].0 == "+442079460958")
            #expect(try await fixture.countsAddUp())
        }
    }

    @Test("bad files import nothing and say what is wrong", arguments: [
        ("name\nAlice\n", "invalid_csv"),
        ("phone,name\n+15550100001,A\nnot-a-phone,B\n", "invalid_phone"),
        ("phone,name\n+15550100001,A\n555 010 0001,B\n", "duplicate_phone"),
        ("", "invalid_csv"),
        ("phone,name\n", "invalid_csv"),
    ])
    func bad(csv: String, code: String) async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database, conversations: 0)
            await expectCode(code) {
                _ = try await ContactImporter(database).importCSV(campaignID: fixture.campaign.id,
                                                                  data: Data(csv.utf8), fileName: "bad.csv")
            }
            #expect(try await conversationCount(database, fixture.campaign.id) == 0)
        }
    }

    @Test("the error names the lines of malformed phones")
    func lineNumbers() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database, conversations: 0)
            let csv = "phone,name\n+15550100001,A\n12,B\n+15550100003,C\nabc,D\n"
            do {
                _ = try await ContactImporter(database).importCSV(campaignID: fixture.campaign.id, data: Data(csv.utf8),
                                                                  fileName: "bad.csv")
                Issue.record("accepted")
            } catch let error as SwitchboardError {
                #expect(error.message.contains("line 3 ('12')") && error.message.contains("line 5 ('abc')"))
            }
        }
    }

    @Test("a file that is not UTF-8 is refused")
    func notUTF8() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database, conversations: 0)
            var data = Data("phone,name\n+15550100001,".utf8)
            data.append(contentsOf: [0xC3, 0x28, 0x0A])
            await expectCode("invalid_csv") {
                _ = try await ContactImporter(database).importCSV(campaignID: fixture.campaign.id, data: data,
                                                                  fileName: "latin1.csv")
            }
        }
    }

    @Test("a phone already in the campaign refuses the whole file")
    func existing() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database, conversations: 3)
            let csv = "phone,name\n+15550109999,New\n+15552000002,Again\n"
            await expectCode("duplicate_phone") {
                _ = try await ContactImporter(database).importCSV(campaignID: fixture.campaign.id,
                                                                  data: Data(csv.utf8), fileName: "b.csv")
            }
            #expect(try await conversationCount(database, fixture.campaign.id) == 3)
        }
    }

    @Test("phone normalisation", arguments: [
        ("555-010-0001", "+15550100001"), ("1 (555) 010-0001", "+15550100001"), ("+33 1 23 45 67 89", "+33123456789"),
        ("12345", nil), ("+0123456789", nil), ("555-010-000x", nil), ("0550100001", nil),
    ] as [(String, String?)])
    func phones(raw: String, expected: String?) {
        #expect(Phone.normalize(raw) == expected)
    }
}
