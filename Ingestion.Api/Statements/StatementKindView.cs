using Ingestion.Api.Jobs;
using Ingestion.Api.Security;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Statements;
using Ingestion.Platform.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Statements;

/// <summary>A statement as the jobs API shows it: the account and period, pages rendered, the document and its download.</summary>
public sealed class StatementKindView : JobKindView<StatementJob>
{
    public override IReadOnlyList<JobViewField> Fields { get; } =
    [
        new("Statement", typeof(StatementView), JobViewSlot.Outcome),
        new("Document", typeof(DocumentView), JobViewSlot.Outcome),
    ];

    public override void MapEndpoints(RouteGroupBuilder jobs) => jobs.MapGet("/{jobId:guid}/download", Download);

    protected override void Show(StatementJob job, JobViewParts view)
    {
        view.Progress = new StatementProgressView(job.LinesRendered, job.LinesTotal, job.PagesRendered, job.PagesTotal, job.Volumes);
        view.Set("Statement", new StatementView(job.AccountId, job.From, job.To));
        view.Set("Document", DocumentOf(job, view));
    }

    /// <summary>A document that expired is shown as such without any other change to the job.</summary>
    protected override string Tag(StatementJob job, TimeSpan linkLifetime) =>
        job.ExpiresAt is { } expiresAt && expiresAt <= DateTimeOffset.UtcNow ? "-expired" : "";

    private static DocumentView? DocumentOf(StatementJob job, JobViewParts view)
    {
        if (job.CurrentState != StatementJob.States.Ready || job.DocumentKey is null)
        {
            return null;
        }

        var expired = job.ExpiresAt <= DateTimeOffset.UtcNow || job.DocumentDeletedAt is not null;
        if (!expired)
        {
            view.Link("download", $"{JobsApi.StatusUrl(job.CorrelationId)}/download");
        }

        return new DocumentView(job.ContentType ?? "application/pdf", job.DocumentBytes ?? 0, job.ExpiresAt, expired,
            job.DocumentDeletedAt);
    }

    /// <summary>
    /// A presigned link to a ready statement: as JSON, or with <c>?redirect=true</c> as a 303 to
    /// it. <c>expiresIn</c> (seconds) asks for a shorter or longer link, within the configured cap.
    /// </summary>
    public static async Task<Results<Ok<DownloadLink>, SeeOther, ProblemHttpResult>> Download(Guid jobId, HttpContext context,
        JobStore jobs, ObjectStore store, IOptions<StatementOptions> options, bool? redirect, int? expiresIn,
        CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        if (await jobs.FindForAsync(caller, jobId, cancellationToken) is not { } job)
        {
            return JobsApi.NotFound(jobId);
        }

        if (job is not StatementJob statement)
        {
            return TypedResults.Problem(statusCode: 409, title: "This job has no document",
                detail: $"Job {jobId} is an {job.Kind} job; its rejected rows, if any, are linked from {JobsApi.StatusUrl(jobId)}.");
        }

        if (statement.CurrentState != StatementJob.States.Ready || statement.DocumentKey is null)
        {
            context.Response.Headers.RetryAfter = "2";
            return TypedResults.Problem(statusCode: 409, title: "The statement is not ready",
                detail: $"Job {jobId} is {JobView.StatusOf(job)}; poll {JobsApi.StatusUrl(jobId)} until it is ready.");
        }

        var now = DateTimeOffset.UtcNow;
        if (statement.ExpiresAt <= now)
        {
            return TypedResults.Problem(statusCode: 410, title: "The statement has expired",
                detail: $"It was kept until {statement.ExpiresAt:u}; request a new statement.");
        }

        if (expiresIn is < 1)
        {
            return JobsApi.BadQuery("expiresIn must be a positive number of seconds.");
        }

        var settings = options.Value;
        var lifetime = expiresIn is { } seconds
            ? TimeSpan.FromSeconds(Math.Min(seconds, settings.MaxDownloadLinkLifetime.TotalSeconds))
            : settings.DownloadLinkLifetime;
        var expiresAt = now + lifetime < statement.ExpiresAt ? now + lifetime : statement.ExpiresAt!.Value;
        var fileName = Path.GetFileName(statement.DocumentKey);
        var url = await store.PresignGetAsync(statement.DocumentKey, expiresAt, fileName);
        return redirect == true
            ? new SeeOther(url)
            : TypedResults.Ok(new DownloadLink(url, expiresAt, statement.ContentType ?? "application/pdf", statement.DocumentBytes ?? 0, fileName));
    }
}

public sealed record StatementProgressView(long LinesRendered, long LinesTotal, int PagesRendered, int PagesTotal, int Volumes);

public sealed record StatementView(long AccountId, DateOnly From, DateOnly To);

/// <summary>
/// The rendered document; once <paramref name="Expired"/>, it cannot be downloaded, and the next retention run
/// removes it from S3 (<paramref name="DeletedAt"/> says when it did).
/// </summary>
public sealed record DocumentView(string ContentType, long Bytes, DateTimeOffset? ExpiresAt, bool Expired, DateTimeOffset? DeletedAt);

public sealed record DownloadLink(string Url, DateTimeOffset ExpiresAt, string ContentType, long Bytes, string FileName);
