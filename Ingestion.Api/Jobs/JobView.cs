using Ingestion.Platform.Jobs;

namespace Ingestion.Api.Jobs;

/// <summary>A job as clients see it: status, what it works on, its progress, and what went wrong.</summary>
public sealed record JobView(
    Guid JobId,
    string Kind,
    string Status,
    string? Tenant,
    string? Dataset,
    long? Bytes,
    string? Sha256,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt,
    JobProgressView? Progress,
    JobErrorView? Error,
    RejectsView? Rejects,
    IReadOnlyDictionary<string, string> Links)
{
    /// <summary>The public status: the state machine's state in lower case (<c>uploaded</c>, <c>processing</c>, …).</summary>
    public static string StatusOf(JobState job) => job.CurrentState.ToLowerInvariant();

    public static JobView From(JobState job, bool showTenant, RejectsView? rejects = null)
    {
        var links = new Dictionary<string, string> { ["self"] = JobsApi.StatusUrl(job.CorrelationId) };
        JobProgressView? progress = null;
        long? bytes = null;
        string? sha256 = null;
        if (job is UploadJob upload)
        {
            bytes = upload.Bytes;
            sha256 = upload.Sha256;
            progress = new JobProgressView(upload.RowsLoaded, upload.RowsRejected, upload.BytesRead, upload.Bytes);
        }

        if (job.CurrentState == UploadJob.States.Failed)
        {
            links["retry"] = $"{JobsApi.StatusUrl(job.CorrelationId)}/retry";
        }

        return new JobView(
            job.CorrelationId,
            job.Kind,
            StatusOf(job),
            showTenant ? job.TenantId : null,
            job.Dataset,
            bytes,
            sha256,
            job.CreatedAt,
            job.UpdatedAt,
            job.StartedAt,
            job.CompletedAt,
            progress,
            job.Error is null ? null : new JobErrorView(job.Error.Code, job.Error.Message, job.Error.At),
            rejects,
            links);
    }
}

public sealed record JobProgressView(long RowsLoaded, long RowsRejected, long BytesRead, long? BytesTotal);

public sealed record JobErrorView(string Code, string Message, DateTimeOffset At);

/// <summary>The rejected rows: how many, and a presigned link to the CSV that lists them.</summary>
public sealed record RejectsView(long Count, string Url, DateTimeOffset ExpiresAt);

public sealed record JobPage(IReadOnlyList<JobView> Items, string? NextCursor, string? Next);
