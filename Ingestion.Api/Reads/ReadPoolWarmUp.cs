using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Api.Reads;

/// <summary>
/// Opens <see cref="ReadOptions.WarmConnections"/> read connections before the API takes requests, and
/// the read pool keeps them (its minimum size, <see cref="ReadDatabase.Create"/>). A pool that grows
/// under load opens each connection while reads wait for it (a PostgreSQL backend forked, TLS and
/// authentication) and allocates its buffers then (72 KiB a connection with the 64 KiB read buffer), which
/// outlive a few collections and are promoted: the cost lands in the first seconds of load, on the
/// requests that arrive then. Opened here, it is paid at start-up instead: in the background, so the API
/// listens at once (uploads and health do not wait for a replica that is slow or gone), and never more than
/// the pool's maximum, which would leave the rest waiting for one of these to come back.
/// </summary>
public sealed partial class ReadPoolWarmUp(ReadDatabase database, IOptions<ReadOptions> options, ILogger<ReadPoolWarmUp> logger)
    : BackgroundService
{
    /// <summary>How many connections the warm-up opens: <see cref="ReadOptions.WarmConnections"/>, at most the pool's maximum.</summary>
    public static int Count(ReadDatabase database, ReadOptions options) =>
        Math.Min(options.WarmConnections, new NpgsqlConnectionStringBuilder(database.DataSource.ConnectionString).MaxPoolSize);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var count = Count(database, options.Value);
        if (count == 0)
        {
            return;
        }

        // All open at once, so the pool makes that many (one at a time, it would hand the same one back each time).
        var opening = new Task<NpgsqlConnection>[count];
        for (var i = 0; i < count; i++)
        {
            opening[i] = database.OpenConnectionAsync(stoppingToken).AsTask();
        }

        try
        {
            await Task.WhenAll(opening);
            LogWarmed(logger, count);
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            // The read database (a replica) may be down while the API starts; reads then fail on their own with
            // "PostgreSQL is unavailable" and recover with it. A pool that is not warm costs latency, not answers,
            // so nothing here may stop the API (a background service's exception would).
            LogNotWarmed(logger, count, exception);
        }
        finally
        {
            // Back to the pool, which keeps them: every one that opened, also when others did not.
            foreach (var open in opening)
            {
                if (open.IsCompletedSuccessfully)
                {
                    await open.Result.DisposeAsync();
                }
            }
        }
    }


    [LoggerMessage(LogLevel.Information, "Read pool warmed: {Count} connections open")]
    private static partial void LogWarmed(ILogger logger, int count);

    [LoggerMessage(LogLevel.Warning, "Read pool not warmed ({Count} connections asked): the read database did not answer; the pool grows with load instead")]
    private static partial void LogNotWarmed(ILogger logger, int count, Exception exception);
}
