import Foundation

/// The migration and function files shipped inside the binary, so `switchboard migrate` works from any directory.
public enum Schema {
    /// The folder holding the numbered `.sql` migrations.
    public static var migrationsDirectory: URL {
        Bundle.module.url(forResource: "migrations", withExtension: nil)!
    }

    /// The folder holding one `.sql` file per function, its current definition.
    public static var functionsDirectory: URL {
        Bundle.module.url(forResource: "functions", withExtension: nil)!
    }
}
