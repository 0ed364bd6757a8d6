using Ingestion.Workers.Retention;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// Deletes the rate budget's grants that no policy counts any more, across every worker once per
/// <c>Syncs:GrantSweepPeriod</c>. Each grant already deletes its own key's old ones; this catches the
/// keys nothing asks on any more (a source deleted, a credential changed), whose last grants would
/// otherwise stay for ever.
/// </summary>
public sealed partial class RateGrantSweep(NpgsqlDataSource dataSource, RateBudget budget, IOptions<SyncOptions> options,
    ILogger<RateGrantSweep> logger) : PeriodicMaintenance(dataSource, "rate-grants", logger)
{
    protected override TimeSpan Period => options.Value.GrantSweepPeriod;

    protected override async Task RunAsync(DateTimeOffset runAt, CancellationToken cancellationToken)
    {
        var deleted = await budget.ForgetOldGrantsAsync(cancellationToken);
        if (deleted > 0)
        {
            LogSwept(deleted);
        }
    }

    [LoggerMessage(LogLevel.Information, "Deleted {Count} rate budget grants older than every window that counts on their key")]
    private partial void LogSwept(int count);
}
