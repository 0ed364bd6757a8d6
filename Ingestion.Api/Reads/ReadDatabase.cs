using Npgsql;

namespace Ingestion.Api.Reads;

/// <summary>
/// Where reads go: <c>ConnectionStrings:Read</c> (a streaming replica in production), or the
/// main database when it is not set. Kept apart from the main data source so that reads never
/// take the connections that jobs and their outbox need.
/// </summary>
public sealed class ReadDatabase(NpgsqlDataSource dataSource) : IAsyncDisposable
{
    private const int ReadBufferBytes = 64 * 1024;

    public NpgsqlDataSource DataSource { get; } = dataSource;

    /// <param name="warmConnections">Kept open as the pool's minimum (<see cref="ReadOptions.WarmConnections"/>), at most its maximum.</param>
    /// <param name="maxConnections">The pool's maximum (<see cref="ReadOptions.MaxConnections"/>) unless the connection string's is smaller; 0 leaves it.</param>
    public static ReadDatabase Create(IConfiguration configuration, ILoggerFactory loggers, string applicationName, int warmConnections = 0,
        int maxConnections = 0)
    {
        var connectionString = configuration.GetConnectionString("Read");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            connectionString = configuration.GetConnectionString("Postgres");
        }

        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UseLoggerFactory(loggers);
        builder.ConnectionStringBuilder.ApplicationName = applicationName + "-reads";

        // A CSV export moves its bytes off the socket as they arrive: 64 KiB a receive instead of
        // Npgsql's 8 KiB cuts its system calls eightfold, for 56 KiB more per pooled read connection.
        builder.ConnectionStringBuilder.ReadBufferSize = Math.Max(builder.ConnectionStringBuilder.ReadBufferSize, ReadBufferBytes);

        // Under load a read waits for a pooled connection rather than opening one (ReadOptions.MaxConnections).
        if (maxConnections > 0)
        {
            builder.ConnectionStringBuilder.MaxPoolSize = Math.Min(builder.ConnectionStringBuilder.MaxPoolSize, maxConnections);
        }

        // The warmed connections stay: above the minimum, Npgsql closes idle ones, and load would open them again.
        builder.ConnectionStringBuilder.MinPoolSize = Math.Min(builder.ConnectionStringBuilder.MaxPoolSize,
            Math.Max(builder.ConnectionStringBuilder.MinPoolSize, warmConnections));
        return new ReadDatabase(builder.Build());
    }

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
}
