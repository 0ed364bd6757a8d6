using Ingestion.Platform.Hosting;
using Npgsql;

namespace Ingestion.Api.Reads;

/// <summary>
/// Where reads go: <c>ConnectionStrings:Read</c> (a streaming replica in production), or the
/// main database when it is not set. Kept apart from the main data source so that reads never
/// take the connections that jobs and their outbox need.
/// </summary>
public sealed class ReadDatabase(NpgsqlDataSource dataSource, ExportSlots exports) : IAsyncDisposable
{
    private const int ReadBufferBytes = 64 * 1024;

    // Npgsql's own defaults, which a connection string that does not set them has.
    private const int NpgsqlDefaultMaxPoolSize = 100;
    private const int NpgsqlDefaultTimeout = 15;

    /// <summary>
    /// How long after a read connection failed to open a pool that stays busy is taken for the read database not answering:
    /// its slots are then held by openings that wait for it, not by reads.
    /// </summary>
    internal static readonly TimeSpan UnreachableWindow = TimeSpan.FromSeconds(10);

    // Environment.TickCount64 until which a busy pool means an unreachable database; 0: a connection opened since.
    private long _unreachableUntil;

    public NpgsqlDataSource DataSource { get; } = dataSource;

    /// <summary>The exports running on this instance, each holding one of the pool's connections (<see cref="ReadOptions.ExportsInFlight"/>).</summary>
    public ExportSlots Exports { get; } = exports;

    /// <summary>
    /// The read pool as <paramref name="options"/> size it: <see cref="ReadOptions.MaxConnections"/> at most,
    /// <see cref="ReadOptions.WarmConnections"/> kept open, <see cref="ReadOptions.ConnectionWait"/> for a busy pool.
    /// </summary>
    public static ReadDatabase Create(IConfiguration configuration, ILoggerFactory loggers, string applicationName, ReadOptions options)
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

        // Under load a read waits for a pooled connection rather than opening one (ReadOptions.MaxConnections), and not for
        // long: a pool still busy after ConnectionWait answers "busy" (Npgsql's Timeout bounds that wait and a new
        // connection's opening; its own default is 15 s).
        var (maxPoolSize, timeout) = (builder.ConnectionStringBuilder.MaxPoolSize, builder.ConnectionStringBuilder.Timeout);
        builder.ConnectionStringBuilder.MaxPoolSize = options.MaxConnections;
        builder.ConnectionStringBuilder.Timeout = Math.Max(1, (int)Math.Ceiling(options.ConnectionWait.TotalSeconds));
        if ((maxPoolSize != NpgsqlDefaultMaxPoolSize && maxPoolSize != builder.ConnectionStringBuilder.MaxPoolSize)
            || (timeout != NpgsqlDefaultTimeout && timeout != builder.ConnectionStringBuilder.Timeout))
        {
            loggers.CreateLogger<ReadDatabase>().LogWarning(
                "The read connection string's Maximum Pool Size ({MaxPoolSize}) and Timeout ({Timeout} s) are replaced by " +
                "Reads:MaxConnections ({MaxConnections}) and Reads:ConnectionWait ({Wait} s); set those instead", maxPoolSize, timeout,
                builder.ConnectionStringBuilder.MaxPoolSize, builder.ConnectionStringBuilder.Timeout);
        }

        // The warmed connections stay: above the minimum, Npgsql closes idle ones, and load would open them again.
        builder.ConnectionStringBuilder.MinPoolSize = Math.Min(options.MaxConnections,
            Math.Max(builder.ConnectionStringBuilder.MinPoolSize, options.WarmConnections));
        return new ReadDatabase(builder.Build(), new ExportSlots(options.ExportsInFlight, options.ExportsInFlightPerTenant));
    }

    /// <summary>
    /// A read connection from the pool. A pool whose every connection stayed busy for <see cref="ReadOptions.ConnectionWait"/>
    /// is "busy" (503, retry in a second), unless a connection failed to open within the last <see cref="UnreachableWindow"/>
    /// and none has opened since: then the read database does not answer (a replica down, or hung), the pool's slots are held
    /// by openings that wait for it, and the read is answered as PostgreSQL unavailable (503, retry in five), as the openings
    /// themselves are. Reads still try: the first connection that opens ends the window.
    /// </summary>
    public async ValueTask<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        NpgsqlConnection connection;
        try
        {
            connection = await DataSource.OpenConnectionAsync(cancellationToken);
        }
        catch (NpgsqlException e) when (PostgresErrors.PoolExhausted(e))
        {
            if (Environment.TickCount64 < Volatile.Read(ref _unreachableUntil))
            {
                throw new NpgsqlException("The read database does not answer: no read connection opened, and every one of the pool "
                    + "is waiting for it.", e.InnerException);
            }

            throw;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is NpgsqlException { IsTransient: true } or TimeoutException)
        {
            Volatile.Write(ref _unreachableUntil, Environment.TickCount64 + (long)UnreachableWindow.TotalMilliseconds);
            throw;
        }

        if (Volatile.Read(ref _unreachableUntil) != 0)
        {
            // Written only when a window was open: every read of a healthy pool passes here, and only reads the field.
            Volatile.Write(ref _unreachableUntil, 0);
        }

        return connection;
    }

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
}
