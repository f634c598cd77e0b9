import Foundation

/// The OpenAPI 3.1 description of the API, kept next to the routes and served at `/openapi.yaml`.
public enum OpenAPI {
    public static let document: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let text = try? String(contentsOf: url, encoding: .utf8)
        else { return "openapi: 3.1.0\n" }
        return text
    }()
}
