using System.Globalization;
using System.Text;
using Ingestion.Api.Security;
using Ingestion.Contracts.Jobs;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace Ingestion.Api.Jobs;

public static class JobsApi
{
    private const int DefaultPageSize = 50;
    private const int MaxPageSize = 200;

    /// <summary>The <c>state</c> filter: every kind's states, as clients write them.</summary>
    private static readonly Dictionary<string, string> States =
        JobKinds.States.ToDictionary(state => state.ToLowerInvariant(), StringComparer.OrdinalIgnoreCase);

    public static IEndpointRouteBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/jobs").WithTags("Jobs");
        api.MapGet("/", ListJobs);
        api.MapGet("/{jobId:guid}", GetJob);
        api.MapPost("/{jobId:guid}/retry", RetryJob);
        api.MapPost("/{jobId:guid}/cancel", CancelJob);
        api.MapGet("/{jobId:guid}/history", History);
        foreach (var kind in JobViews.All)
        {
            kind.MapEndpoints(api);
        }

        return app;
    }

    public static string StatusUrl(Guid jobId) => $"/v1/jobs/{jobId}";

    /// <summary>
    /// The job. Every change bumps its version, which is its <c>ETag</c>: a poller that sends
    /// <c>If-None-Match</c> gets a bodiless 304 until something moved, and while the job runs
    /// <c>Retry-After</c> suggests when to ask again (or use <c>/stream</c>).
    /// </summary>
    public static async Task<Results<Ok<JobView>, StatusCodeHttpResult, ProblemHttpResult>> GetJob(Guid jobId, HttpContext context,
        JobStore jobs, ObjectStore store, CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        if (await jobs.FindForAsync(caller, jobId, cancellationToken) is not { } job)
        {
            return NotFound(jobId);
        }

        var etag = new EntityTagHeaderValue($"\"{Tag(job, store.PresignedUrlLifetime)}\"", isWeak: true);
        var headers = context.Response.GetTypedHeaders();
        headers.ETag = etag;
        headers.CacheControl = new CacheControlHeaderValue { Private = true, NoCache = true };
        if (!job.IsFinished)
        {
            context.Response.Headers.RetryAfter = job.StartedAt is null ? "2" : "1";
        }

        if (context.Request.GetTypedHeaders().IfNoneMatch.Any(tag => tag.Equals(EntityTagHeaderValue.Any) || tag.Compare(etag, useStrongComparison: false)))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }

        return TypedResults.Ok(await JobView.WithLinksAsync(job, caller.IsOps, store, context.RequestServices, cancellationToken));
    }

    /// <summary>A tenant's jobs, newest first; operators see every tenant's, or one's with <c>tenant=</c>.</summary>
    public static async Task<Results<Ok<JobPage>, ProblemHttpResult>> ListJobs(
        HttpContext context,
        JobStore jobs,
        string? state,
        string? dataset,
        string? kind,
        string? tenant,
        string? cursor,
        int? limit,
        CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        string? storedState = null;
        if (state is not null && !States.TryGetValue(state, out storedState))
        {
            return BadQuery($"state must be one of {string.Join(", ", States.Keys)}.");
        }

        if (kind is not null && !JobSerializer.IsKind(kind))
        {
            return BadQuery($"kind must be {JobKinds.Names("or")}.");
        }

        if (dataset is not null && !Identifier.IsValid(dataset))
        {
            return BadQuery($"dataset must match {Identifier.Pattern}.");
        }

        if (limit is < 1 or > MaxPageSize)
        {
            return BadQuery($"limit must be between 1 and {MaxPageSize}.");
        }

        JobCursor? after = null;
        if (cursor is not null && !TryDecodeCursor(cursor, out after))
        {
            return BadQuery("cursor is not one this API returned.");
        }

        var scope = caller.IsOps ? tenant : caller.TenantId;
        var size = limit ?? DefaultPageSize;
        var page = await jobs.ListAsync(new JobQuery(scope, storedState, dataset, kind, after, size + 1), cancellationToken);
        var items = page.Take(size).Select(job => JobView.From(job, caller.IsOps)).ToList();
        string? nextCursor = null;
        string? next = null;
        if (page.Count > size)
        {
            nextCursor = EncodeCursor(new JobCursor(items[^1].CreatedAt, items[^1].JobId));
            var query = new Dictionary<string, string?>
            {
                ["state"] = state,
                ["dataset"] = dataset,
                ["kind"] = kind,
                ["tenant"] = caller.IsOps ? tenant : null,
                ["limit"] = limit?.ToString(CultureInfo.InvariantCulture),
                ["cursor"] = nextCursor,
            };
            next = QueryString.Create(query.Where(p => p.Value is not null)).ToUriComponent();
            next = "/v1/jobs" + next;
        }

        return TypedResults.Ok(new JobPage(items, nextCursor, next));
    }

    /// <summary>
    /// Runs a failed or cancelled job again from its last checkpoint; the object is still in S3.
    /// The body may raise the job's reject limits (<see cref="RetryLimits"/>).
    /// </summary>
    public static async Task<Results<Accepted<JobView>, ProblemHttpResult>> RetryJob(Guid jobId, HttpContext context,
        JobStore jobs, DatasetCatalog datasets, RetryRequest? limits, CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        if (await jobs.FindForAsync(caller, jobId, cancellationToken) is not { } job)
        {
            return NotFound(jobId);
        }

        if (!JobView.CanRetry(job))
        {
            return TypedResults.Problem(statusCode: 409, title: "Only failed or cancelled jobs can be retried",
                detail: $"Job {jobId} is {JobView.StatusOf(job)}.");
        }

        if (await RetryLimits.RefusalAsync(job, limits, datasets, cancellationToken) is { } refused)
        {
            return refused;
        }

        await jobs.SendAsync(new RetryJob(jobId, caller.Actor), Queues.Address(Queues.JobsOf(job.Kind)), cancellationToken,
            limits is { RaisesLimits: true } ? new RejectLimits(limits.MaxRejectedRows, limits.MaxRejectedRatio, Raised: true) : null);
        return TypedResults.Accepted(StatusUrl(jobId), JobView.From(job, caller.IsOps));
    }

    /// <summary>
    /// Stops a queued or running job. An upload stops at its next batch boundary: the batches
    /// committed until then stay, and the job says after which line it stopped. The answer is
    /// 202 because the stop happens on the worker; the job's status, stream or webhook tell when.
    /// </summary>
    public static async Task<Results<Accepted<JobView>, ProblemHttpResult>> CancelJob(Guid jobId, HttpContext context,
        JobStore jobs, CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        if (await jobs.FindForAsync(caller, jobId, cancellationToken) is not { } job)
        {
            return NotFound(jobId);
        }

        if (job.IsFinished)
        {
            return TypedResults.Problem(statusCode: 409, title: "The job has already ended",
                detail: $"Job {jobId} is {JobView.StatusOf(job)}; only queued or running jobs can be cancelled.");
        }

        await jobs.SendAsync(new CancelJob(jobId, caller.Actor), Queues.Address(Queues.JobsOf(job.Kind)), cancellationToken);
        return TypedResults.Accepted(StatusUrl(jobId), JobView.From(job, caller.IsOps));
    }

    public sealed record JobHistoryView(Guid JobId, IReadOnlyList<JobEvent> Events);

    /// <summary>The job's audit trail: every transition and every operator action, with who and when, oldest first.</summary>
    public static async Task<Results<Ok<JobHistoryView>, ProblemHttpResult>> History(Guid jobId, HttpContext context,
        JobStore jobs, JobHistory history, CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        if (await jobs.FindForAsync(caller, jobId, cancellationToken) is not { } job)
        {
            return NotFound(jobId);
        }

        return TypedResults.Ok(new JobHistoryView(jobId, await history.ListAsync(jobId, cancellationToken)));
    }

    /// <summary>
    /// The job's version, and what its kind says the answer holds that changes with time alone
    /// (a document that expired, a presigned link renewed every half lifetime).
    /// </summary>
    private static string Tag(JobState job, TimeSpan linkLifetime) =>
        job.Version.ToString(CultureInfo.InvariantCulture) + JobViews.Of(job).Tag(job, linkLifetime);

    /// <summary>The job, if this caller may see it: another tenant's job is as unknown as one that does not exist.</summary>
    internal static async Task<JobState?> FindForAsync(this JobStore jobs, Caller caller, Guid jobId, CancellationToken cancellationToken) =>
        await jobs.FindAsync(jobId, cancellationToken) is { } job && caller.CanAccess(job.TenantId) ? job : null;

    internal static ProblemHttpResult NotFound(Guid jobId) =>
        TypedResults.Problem(statusCode: 404, title: "Unknown job", detail: $"There is no job {jobId} for this key.");

    internal static ProblemHttpResult BadQuery(string detail) =>
        TypedResults.Problem(statusCode: 400, title: "Invalid query", detail: detail);

    private static string EncodeCursor(JobCursor cursor) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(
                $"{cursor.CreatedAt.UtcTicks.ToString(CultureInfo.InvariantCulture)}:{cursor.JobId:N}"))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool TryDecodeCursor(string value, out JobCursor? cursor)
    {
        cursor = null;
        try
        {
            var padded = value.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(padded)).Split(':');
            if (parts.Length == 2
                && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
                && ticks is > 0 and < 3155378975999999999
                && Guid.TryParseExact(parts[1], "N", out var id))
            {
                cursor = new JobCursor(new DateTimeOffset(ticks, TimeSpan.Zero), id);
            }
        }
        catch (FormatException)
        {
            cursor = null;
        }

        return cursor is not null;
    }
}

/// <summary>303 See Other: the document is at the presigned URL; fetch it with GET.</summary>
public sealed class SeeOther(string location) : IResult, IStatusCodeHttpResult
{
    public int? StatusCode => StatusCodes.Status303SeeOther;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = StatusCodes.Status303SeeOther;
        httpContext.Response.Headers.Location = location;
        return Task.CompletedTask;
    }
}
