using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Retention;

/// <summary>Runs <see cref="JobPurge"/> once per <c>Retention:Period</c> across every worker.</summary>
public sealed partial class RetentionService(
    NpgsqlDataSource dataSource,
    JobPurge purge,
    IOptions<RetentionOptions> options,
    ILogger<RetentionService> logger) : PeriodicMaintenance(dataSource, "retention", logger)
{
    protected override TimeSpan Period => options.Value.Period;

    protected override async Task RunAsync(DateTimeOffset runAt, CancellationToken cancellationToken)
    {
        LogClaimed(Logger, runAt);
        await purge.RunAsync(cancellationToken);
    }

    [LoggerMessage(LogLevel.Information, "Retention run {RunAt:O} claimed")]
    private static partial void LogClaimed(ILogger logger, DateTimeOffset runAt);
}
