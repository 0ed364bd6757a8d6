using Ingestion.Platform.Jobs;

namespace Ingestion.Api.Jobs;

/// <summary>
/// A job as clients see it: status, what it works on, its progress, what went wrong, and
/// what it produced. <c>progress</c> has the shape of the job's kind.
/// </summary>
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
    object? Progress,
    JobErrorView? Error,
    RejectsView? Rejects,
    StatementView? Statement,
    DocumentView? Document,
    CancellationView? Cancellation,
    IReadOnlyDictionary<string, string> Links)
{
    /// <summary>Reject limits a retry raised above the dataset's for this upload, if one did.</summary>
    public RejectLimitsView? RejectLimits { get; init; }

    /// <summary>The public status: the state machine's state in lower case (<c>uploaded</c>, <c>rendering</c>, …).</summary>
    public static string StatusOf(JobState job) => job.CurrentState.ToLowerInvariant();

    /// <summary>Failed and cancelled jobs can run again, from their checkpoint.</summary>
    public static bool CanRetry(JobState job) => job.CurrentState is UploadJob.States.Failed or UploadJob.States.Cancelled;

    public static JobView From(JobState job, bool showTenant, RejectsView? rejects = null)
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

        return job switch
        {
            UploadJob upload => Common(job, showTenant, links) with
            {
                Bytes = upload.Bytes,
                Sha256 = upload.Sha256,
                Progress = new UploadProgressView(upload.RowsLoaded, upload.RowsRejected, upload.BytesRead, upload.Bytes),
                Rejects = rejects,
                RejectLimits = upload.MaxRejectedRows is null && upload.MaxRejectedRatio is null
                    ? null
                    : new RejectLimitsView(upload.MaxRejectedRows, upload.MaxRejectedRatio),
                Cancellation = upload.CancelledBy is null
                    ? null
                    : new CancellationView(upload.CancelledBy, upload.CompletedAt, upload.StoppedAfterLine),
            },
            StatementJob statement => Common(job, showTenant, links) with
            {
                Progress = new StatementProgressView(statement.LinesRendered, statement.LinesTotal, statement.PagesRendered,
                    statement.PagesTotal, statement.Volumes),
                Statement = new StatementView(statement.AccountId, statement.From, statement.To),
                Document = DocumentOf(statement, links),
            },
            _ => Common(job, showTenant, links),
        };
    }

    private static DocumentView? DocumentOf(StatementJob job, Dictionary<string, string> links)
    {
        if (job.CurrentState != StatementJob.States.Ready || job.DocumentKey is null)
        {
            return null;
        }

        var expired = job.ExpiresAt <= DateTimeOffset.UtcNow || job.DocumentDeletedAt is not null;
        if (!expired)
        {
            links["download"] = $"{JobsApi.StatusUrl(job.CorrelationId)}/download";
        }

        return new DocumentView(job.ContentType ?? "application/pdf", job.DocumentBytes ?? 0, job.ExpiresAt, expired,
            job.DocumentDeletedAt);
    }

    private static JobView Common(JobState job, bool showTenant, IReadOnlyDictionary<string, string> links) => new(
        job.CorrelationId,
        job.Kind,
        StatusOf(job),
        showTenant ? job.TenantId : null,
        job.Dataset,
        null,
        null,
        job.CreatedAt,
        job.UpdatedAt,
        job.StartedAt,
        job.CompletedAt,
        null,
        job.Error is null ? null : new JobErrorView(job.Error.Code, job.Error.Message, job.Error.At),
        null,
        null,
        null,
        job.CancelledBy is null ? null : new CancellationView(job.CancelledBy, job.CompletedAt, null),
        links);
}

public sealed record RejectLimitsView(long? MaxRejectedRows, double? MaxRejectedRatio);

public sealed record UploadProgressView(long RowsLoaded, long RowsRejected, long BytesRead, long? BytesTotal);

public sealed record StatementProgressView(long LinesRendered, long LinesTotal, int PagesRendered, int PagesTotal, int Volumes);

public sealed record StatementView(long AccountId, DateOnly From, DateOnly To);

/// <summary>
/// The rendered document; once <paramref name="Expired"/>, it cannot be downloaded, and the next retention run
/// removes it from S3 (<paramref name="DeletedAt"/> says when it did).
/// </summary>
public sealed record DocumentView(string ContentType, long Bytes, DateTimeOffset? ExpiresAt, bool Expired, DateTimeOffset? DeletedAt);

/// <summary>
/// Who cancelled the job and when. For an upload, <paramref name="StoppedAfterLine"/> is the last line
/// loaded or rejected before it stopped (null until its worker has stopped): the batches up to
/// there stay committed, and a retry carries on from the next line.
/// </summary>
public sealed record CancellationView(string By, DateTimeOffset? At, long? StoppedAfterLine);

public sealed record JobErrorView(string Code, string Message, DateTimeOffset At);

/// <summary>The rejected rows: how many, and a presigned link to the CSV that lists them.</summary>
public sealed record RejectsView(long Count, string Url, DateTimeOffset ExpiresAt);

public sealed record JobPage(IReadOnlyList<JobView> Items, string? NextCursor, string? Next);
