using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingestion.Platform.Database;

/// <summary>
/// Applies the embedded <c>Migrations/NNNN_name.sql</c> files in order, each once, each in
/// its own transaction. An advisory lock lets the API and any number of workers start
/// together: one migrates, the others wait and then find nothing left to do. Waits for
/// PostgreSQL to answer (it may start after us) before giving up with a clear error.
/// </summary>
internal sealed partial class DatabaseMigrator(
    NpgsqlDataSource dataSource,
    IEnumerable<IStartupDatabaseTask> startupTasks,
    ILogger<DatabaseMigrator> logger) : IHostedService
{
    private const long MigrationLockKey = 0x1_6E67_6573_7431;
    private static readonly TimeSpan StartupPatience = TimeSpan.FromSeconds(90);

    private const string CreateHistory = """
        create schema if not exists ingestion;
        create table if not exists ingestion.schema_migrations (
            version integer primary key,
            name text not null,
            applied_at timestamptz not null default now()
        );
        """;

    /// <summary>
    /// The oldest PostgreSQL this service runs on: a job lock's session sets <c>client_connection_check_interval</c> (new in
    /// 14), so on 13 every job would fail at its lock rather than the service at start-up.
    /// </summary>
    internal static readonly Version MinimumServer = new(14, 0);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenWhenAvailableAsync(cancellationToken);
        if (Unsupported(connection.PostgreSqlVersion) is { } tooOld)
        {
            throw new InvalidOperationException(tooOld);
        }

        await Execute(connection, "select pg_advisory_lock(@key)", cancellationToken, ("key", MigrationLockKey));
        try
        {
            await Execute(connection, CreateHistory, cancellationToken);
            var applied = await AppliedVersionsAsync(connection, cancellationToken);
            foreach (var migration in Migrations().Where(m => !applied.Contains(m.Version)))
            {
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await Execute(connection, migration.Sql, cancellationToken);
                await Execute(connection, "insert into ingestion.schema_migrations (version, name) values (@version, @name)",
                    cancellationToken, ("version", migration.Version), ("name", migration.Name));
                await transaction.CommitAsync(cancellationToken);
                logger.LogInformation("Applied migration {Version:D4} {Name}", migration.Version, migration.Name);
            }

            foreach (var task in startupTasks)
            {
                await task.RunAsync(connection, cancellationToken);
            }
        }
        finally
        {
            await Execute(connection, "select pg_advisory_unlock(@key)", CancellationToken.None, ("key", MigrationLockKey));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Why the service cannot run on a server of this version, or null when it can.</summary>
    internal static string? Unsupported(Version server) => server < MinimumServer
        ? $"PostgreSQL {server} is too old for this service, which needs {MinimumServer.Major} or later (its job locks set " +
          "client_connection_check_interval, new in 14, so that a dead worker's lock goes within a second). Nothing was migrated."
        : null;

    internal static IReadOnlyList<(int Version, string Name, string Sql)> Migrations()
    {
        var assembly = typeof(DatabaseMigrator).Assembly;
        return assembly.GetManifestResourceNames()
            .Select(resource => (resource, match: MigrationName().Match(resource)))
            .Where(x => x.match.Success)
            .Select(x => (int.Parse(x.match.Groups["version"].Value), x.match.Groups["name"].Value, Read(assembly, x.resource)))
            .OrderBy(m => m.Item1)
            .ToList();
    }

    private async Task<NpgsqlConnection> OpenWhenAvailableAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + StartupPatience;
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                return await dataSource.OpenConnectionAsync(cancellationToken);
            }
            catch (NpgsqlException e) when (DateTimeOffset.UtcNow < deadline && e.IsTransient)
            {
                logger.LogWarning("PostgreSQL is not reachable yet ({Reason}); retrying in {Delay}", e.Message, delay);
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private static async Task<HashSet<int>> AppliedVersionsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select version from ingestion.schema_migrations", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var versions = new HashSet<int>();
        while (await reader.ReadAsync(cancellationToken))
        {
            versions.Add(reader.GetInt32(0));
        }

        return versions;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken cancellationToken,
        params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string Read(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"Migrations\.(?<version>\d{4})_(?<name>[a-z0-9_]+)\.sql$")]
    private static partial Regex MigrationName();
}

/// <summary>
/// Work that must run once at start-up after the migrations, under the same lock
/// (for example provisioning the configured tenants' schemas).
/// </summary>
public interface IStartupDatabaseTask
{
    Task RunAsync(NpgsqlConnection connection, CancellationToken cancellationToken);
}
