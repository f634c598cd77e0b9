import Foundation

/// The migration files shipped inside the binary, so `switchboard migrate` works from any directory.
public enum Schema {
    /// The folder holding the numbered `.sql` migrations.
    public static var migrationsDirectory: URL {
        Bundle.module.url(forResource: "migrations", withExtension: nil)!
    }
}
