using System.Text.Json.Serialization;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Storage;

namespace Ingestion.Api.Jobs;

/// <summary>
/// A job as clients see it: status, what it works on, its progress, what went wrong, and
/// what it produced. <c>progress</c> has the shape of the job's kind, and each kind adds its
/// own fields (<see cref="JobKindView.Fields"/>; <see cref="JobViews"/> places them).
/// </summary>
public sealed record JobView(
    Guid JobId,
    string Kind,
    string Status,
    string? Tenant,
    string? Dataset,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt,
    object? Progress,
    JobErrorView? Error,
    CancellationView? Cancellation,
    IReadOnlyDictionary<string, string> Links)
{
    /// <summary>The kind's own fields by name, as its <see cref="JobKindView"/> filled them.</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, object?> Fields { get; init; } = new Dictionary<string, object?>();

    /// <summary>The public status: the state machine's state in lower case (<c>uploaded</c>, <c>rendering</c>, …).</summary>
    public static string StatusOf(JobState job) => job.CurrentState.ToLowerInvariant();

    /// <summary>Failed and cancelled jobs can run again, from their checkpoint.</summary>
    public static bool CanRetry(JobState job) => JobKind.CanRetry(job.CurrentState);

    /// <summary>The job as any answer about it shows it (a list, a stream, a retry).</summary>
    public static JobView From(JobState job, bool showTenant)
    {
        var (kind, parts) = Start(job);
        kind.Show(job, parts);
        return Finish(job, showTenant, parts);
    }

    /// <summary>The job as <c>GET /v1/jobs/{id}</c> shows it: with presigned links to what it produced, and its kind's details.</summary>
    public static async Task<JobView> WithLinksAsync(JobState job, bool showTenant, ObjectStore store, IServiceProvider services,
        CancellationToken cancellationToken)
    {
        var (kind, parts) = Start(job);
        kind.Show(job, parts);
        await kind.ShowLinksAsync(job, parts, store);
        await kind.ShowDetailsAsync(job, parts, services, cancellationToken);
        return Finish(job, showTenant, parts);
    }

    private static (JobKindView Kind, JobViewParts Parts) Start(JobState job)
    {
        var self = JobsApi.StatusUrl(job.CorrelationId);
        var links = new Dictionary<string, string>
        {
            ["self"] = self,
            ["stream"] = $"{self}/stream",
            ["history"] = $"{self}/history",
        };
        if (CanRetry(job))
        {
            links["retry"] = $"{self}/retry";
        }

        if (!job.IsFinished)
        {
            links["cancel"] = $"{self}/cancel";
        }

        if (job.CallbackUrl is not null)
        {
            links["webhooks"] = $"{self}/webhooks";
        }

        var kind = JobViews.Of(job);
        var cancellation = job.CancelledBy is null ? null : new CancellationView(job.CancelledBy, job.CompletedAt, null);
        return (kind, new JobViewParts(kind, links, cancellation));
    }

    private static JobView Finish(JobState job, bool showTenant, JobViewParts parts) => new(
        job.CorrelationId,
        job.Kind,
        StatusOf(job),
        showTenant ? job.TenantId : null,
        job.Dataset,
        job.CreatedAt,
        job.UpdatedAt,
        job.StartedAt,
        job.CompletedAt,
        parts.Progress,
        job.Error is null ? null : new JobErrorView(job.Error.Code, job.Error.Message, job.Error.At),
        parts.Cancellation,
        parts.Links)
    {
        Fields = parts.Fields,
    };
}

/// <summary>
/// Who cancelled the job and when. <paramref name="StoppedAfterLine"/> is, for a kind that works through
/// lines, the last line it loaded or rejected before it stopped (null until its worker has stopped): the
/// work up to there stays committed, and a retry carries on from the next line.
/// </summary>
public sealed record CancellationView(string By, DateTimeOffset? At, long? StoppedAfterLine);

public sealed record JobErrorView(string Code, string Message, DateTimeOffset At);

public sealed record JobPage(IReadOnlyList<JobView> Items, string? NextCursor, string? Next);
