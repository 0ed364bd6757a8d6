using Npgsql;

namespace Ingestion.Workers.Retention;

/// <summary>
/// A task that runs once per period across every worker, however many run and however often they
/// restart: the time of its last run is a row of <c>ingestion.maintenance</c>, moved by one
/// conditional upsert that only one worker's transaction can win per period. The time lives in
/// PostgreSQL, so a restart neither runs it early nor forgets it.
/// </summary>
public abstract class PeriodicMaintenance(NpgsqlDataSource dataSource, string task, ILogger logger) : BackgroundService
{
    /// <summary>
    /// Claims the run: inserts the row the first time, otherwise moves it only if a period has
    /// passed. A concurrent claimer waits on the row lock, then sees the new time and gets nothing.
    /// </summary>
    private const string ClaimSql = """
        insert into ingestion.maintenance as m (task, last_run_at) values (@task, now())
        on conflict (task) do update set last_run_at = now() where m.last_run_at <= now() - @period
        returning last_run_at
        """;

    private const string NextSql = "select last_run_at + @period - now() from ingestion.maintenance where task = @task";

    private static readonly TimeSpan MinimumWait = TimeSpan.FromMilliseconds(100);

    protected ILogger Logger => logger;

    protected NpgsqlDataSource DataSource => dataSource;

    protected abstract TimeSpan Period { get; }

    /// <summary>One run, claimed by this worker.</summary>
    protected abstract Task RunAsync(DateTimeOffset runAt, CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = Period;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await ClaimAsync(period, stoppingToken) is { } runAt)
                {
                    await RunAsync(runAt, stoppingToken);
                }

                await Task.Delay(await NextAsync(period, stoppingToken), stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // Whatever stops one run must not stop the worker's consumers with the host.
            catch (Exception e)
#pragma warning restore CA1031
            {
                // What was done stays done; the rest waits for the next period.
                logger.LogWarning(e, "The {Task} run stopped; the next period carries on", task);
                await Task.Delay(period, stoppingToken);
            }
        }
    }

    private async Task<DateTimeOffset?> ClaimAsync(TimeSpan period, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ClaimSql);
        command.Parameters.AddWithValue("task", task);
        command.Parameters.AddWithValue("period", period);
        return await command.ExecuteScalarAsync(cancellationToken) is DateTime at ? new DateTimeOffset(at, TimeSpan.Zero) : null;
    }

    /// <summary>Until the next run is due, by PostgreSQL's clock.</summary>
    private async Task<TimeSpan> NextAsync(TimeSpan period, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(NextSql);
        command.Parameters.AddWithValue("task", task);
        command.Parameters.AddWithValue("period", period);
        var wait = await command.ExecuteScalarAsync(cancellationToken) as TimeSpan? ?? period;
        return wait < MinimumWait ? MinimumWait : wait > period ? period : wait;
    }
}
