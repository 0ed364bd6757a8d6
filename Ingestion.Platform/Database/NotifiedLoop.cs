using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingestion.Platform.Database;

/// <summary>
/// A background loop over work kept in PostgreSQL: it runs when a transaction that adds work
/// commits a NOTIFY on <paramref name="channel"/>, or when the wait the last run asked for is
/// over (the poll is the fallback for a NOTIFY missed while the listener reconnected). While a
/// failure <see cref="IsTransient"/> deems passing (PostgreSQL or the broker away), it pauses
/// with a backoff that doubles up to 15 s and listens again; any other failure stops the host.
/// </summary>
public abstract class NotifiedLoop(NpgsqlDataSource dataSource, string channel, ILogger logger) : BackgroundService
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(15);

    protected NpgsqlDataSource DataSource { get; } = dataSource;

    /// <summary>Does what is due now; returns how long to wait for a NOTIFY before running again.</summary>
    protected abstract Task<TimeSpan> RunAsync(CancellationToken cancellationToken);

    /// <summary>Whether <paramref name="failure"/> pauses the loop rather than ends it.</summary>
    protected abstract bool IsTransient(Exception failure);

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = FirstBackoff;
        NpgsqlConnection? listener = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                listener ??= await ListenAsync(stoppingToken);
                var wait = await RunAsync(stoppingToken);
                backoff = FirstBackoff;
                await listener.WaitAsync(wait, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (IsTransient(e))
            {
                logger.LogWarning("{Loop} paused for {Backoff}: {Reason}", GetType().Name, backoff, $"{e.GetType().Name}: {e.Message}");
                if (listener is not null)
                {
                    await listener.DisposeAsync();
                    listener = null;
                }

                await Task.Delay(backoff, stoppingToken);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }

        if (listener is not null)
        {
            await listener.DisposeAsync();
        }
    }

    private async Task<NpgsqlConnection> ListenAsync(CancellationToken cancellationToken)
    {
        var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var listen = new NpgsqlCommand($"listen {channel}", connection);
        await listen.ExecuteNonQueryAsync(cancellationToken);
        return connection;
    }
}
