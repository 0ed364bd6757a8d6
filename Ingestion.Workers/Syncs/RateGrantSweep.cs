using Ingestion.Workers.Retention;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// Deletes the rate budget's grants that no policy counts any more, across every worker once per
/// <c>Syncs:GrantSweepPeriod</c>. Each grant already deletes its own key's old ones; this catches the
/// keys nothing asks on any more (a source deleted, a credential changed), whose last grants would
/// otherwise stay for ever; a key asked on within a turn's longest life is left alone, since a turn that
/// read its source before the change still counts its grants by the policies it read.
/// </summary>
public sealed partial class RateGrantSweep(NpgsqlDataSource dataSource, RateBudget budget, IOptions<SyncOptions> options,
    ILogger<RateGrantSweep> logger) : PeriodicMaintenance(dataSource, "rate-grants", logger)
{
    protected override TimeSpan Period => options.Value.GrantSweepPeriod;

    protected override async Task RunAsync(DateTimeOffset runAt, CancellationToken cancellationToken)
    {
        // A key asked on within a turn's longest life may serve a turn that read its source before a change.
        var deleted = await budget.ForgetOldGrantsAsync(TurnLife(options.Value), cancellationToken);
        if (deleted > 0)
        {
            LogSwept(deleted);
        }
    }

    /// <summary>The longest a turn goes on after its last grant: its slice, then a page's request and body, each within the request timeout.</summary>
    public static TimeSpan TurnLife(SyncOptions options) => options.SliceDuration + 2 * options.RequestTimeout;

    [LoggerMessage(LogLevel.Information, "Deleted {Count} rate budget grants older than every window that counts on their key")]
    private partial void LogSwept(int count);
}
