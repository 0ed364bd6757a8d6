using System.Globalization;
using Ingestion.Api.Security;
using Ingestion.Contracts.Jobs;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Ops;

/// <summary>
/// What on-call engineers need across tenants: failed jobs grouped by cause, retried one
/// group or all at once (each from its checkpoint, each audited with the operator), archived
/// when not worth retrying; and the messages MassTransit moved to <c>_error</c> queues, listed
/// and sent back. Operator keys only: a tenant's key gets 403.
/// </summary>
public static class OpsApi
{
    private const int DefaultJobsPerGroup = 10;
    private const int MaxJobsPerGroup = 100;
    private const int DefaultPageSize = 50;
    private const int MaxPageSize = 500;
    private const int DefaultMessagesPerQueue = 20;

    /// <summary>Jobs read and retried per round trip when a whole group (or everything) is retried.</summary>
    private const int Batch = 200;

    public sealed record FailuresView(IReadOnlyList<FailureGroup> Groups, long FailedJobs);

    public sealed record FailureGroupPage(FailureGroup Group, IReadOnlyList<FailedJob> Jobs, string? NextCursor, string? Next);

    /// <summary>What a retry or an archive acted on.</summary>
    /// <param name="Skipped">Jobs left as they are, with why (a retry would fail them again at once).</param>
    public sealed record JobsActedOn(int Count, IReadOnlyList<Guid> JobIds, IReadOnlyList<SkippedJob>? Skipped = null);

    public sealed record SkippedJob(Guid JobId, string Reason);

    public sealed record DeadLetterQueueView(string Queue, string OriginalQueue, long Messages, IReadOnlyList<DeadLetter> Items,
        string? Next, IReadOnlyDictionary<string, string> Links);

    public sealed record DeadLettersView(IReadOnlyList<DeadLetterQueueView> Queues);

    public sealed record Redelivered(string Queue, string OriginalQueue, int Count, IReadOnlyList<DeadLetter> Messages);

    public static IEndpointRouteBuilder MapOpsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/ops").RequireAuthorization(SecurityExtensions.OpsPolicy).WithTags("Operations");
        api.MapGet("/failures", ListFailures);
        api.MapPost("/failures/retry", RetryAllFailures);
        api.MapGet("/failures/{groupId}", GetFailureGroup);
        api.MapPost("/failures/{groupId}/retry", RetryFailureGroup);
        api.MapPost("/failures/{groupId}/archive", ArchiveFailureGroup);
        api.MapGet("/dead-letters", ListDeadLetters);
        api.MapGet("/dead-letters/{queue}", GetDeadLetterQueue);
        api.MapPost("/dead-letters/{queue}/redeliver", RedeliverAll);
        api.MapPost("/dead-letters/{queue}/{messageId}/redeliver", RedeliverOne);
        api.MapGet("/outbox", OutboxOps.ListPoisoned);
        api.MapPost("/outbox/{id:long}/redeliver", OutboxOps.RedeliverPoisoned);
        api.MapGet("/stalled", StalledJobs.List);
        return app;
    }

    public static string FailureUrl(string groupId) => $"/v1/ops/failures/{groupId}";

    public static string DeadLetterUrl(string queue) => $"/v1/ops/dead-letters/{Uri.EscapeDataString(queue)}";

    /// <summary>Every group of failed jobs, most recently seen first, each with its latest jobs.</summary>
    public static async Task<Results<Ok<FailuresView>, ProblemHttpResult>> ListFailures(FailureGroups failures, int? jobsPerGroup,
        CancellationToken cancellationToken)
    {
        if (jobsPerGroup is < 0 or > MaxJobsPerGroup)
        {
            return BadQuery($"jobsPerGroup must be between 0 and {MaxJobsPerGroup}.");
        }

        var groups = await failures.ListAsync(jobsPerGroup ?? DefaultJobsPerGroup, cancellationToken);
        return TypedResults.Ok(new FailuresView(groups, groups.Sum(g => g.Count)));
    }

    /// <summary>One group and a page of its jobs, newest failure first; <c>next</c> pages on.</summary>
    public static async Task<Results<Ok<FailureGroupPage>, ProblemHttpResult>> GetFailureGroup(string groupId, FailureGroups failures,
        string? cursor, int? limit, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxPageSize)
        {
            return BadQuery($"limit must be between 1 and {MaxPageSize}.");
        }

        FailureCursor? after = null;
        if (cursor is not null && !TryDecodeCursor(cursor, out after))
        {
            return BadQuery("cursor is not one this API returned.");
        }

        var group = await failures.FindAsync(groupId, cancellationToken);
        if (group is null)
        {
            return UnknownGroup(groupId);
        }

        var size = limit ?? DefaultPageSize;
        var jobs = await failures.JobsAsync(groupId, after, size + 1, cancellationToken);
        var page = jobs.Take(size).ToList();
        string? nextCursor = null;
        string? next = null;
        if (jobs.Count > size)
        {
            nextCursor = $"{page[^1].FailedAt.UtcTicks.ToString(CultureInfo.InvariantCulture)}-{page[^1].JobId:N}";
            next = $"{FailureUrl(groupId)}?limit={size.ToString(CultureInfo.InvariantCulture)}&cursor={nextCursor}";
        }

        return TypedResults.Ok(new FailureGroupPage(group, page, nextCursor, next));
    }

    /// <summary>Retries every failed job of the group; each resumes from its checkpoint.</summary>
    public static async Task<Results<Accepted<JobsActedOn>, ProblemHttpResult>> RetryFailureGroup(string groupId, HttpContext context,
        FailureGroups failures, JobStore jobs, CancellationToken cancellationToken)
    {
        if (await failures.FindAsync(groupId, cancellationToken) is null)
        {
            return UnknownGroup(groupId);
        }

        var (retried, skipped) = await RetryAsync(groupId, Caller.From(context.User), failures, jobs, cancellationToken);
        return TypedResults.Accepted(FailureUrl(groupId), new JobsActedOn(retried.Count, retried, skipped));
    }

    /// <summary>Retries every failed job that is not archived, whatever its cause.</summary>
    public static async Task<Accepted<JobsActedOn>> RetryAllFailures(HttpContext context, FailureGroups failures, JobStore jobs,
        CancellationToken cancellationToken)
    {
        var (retried, skipped) = await RetryAsync(null, Caller.From(context.User), failures, jobs, cancellationToken);
        return TypedResults.Accepted("/v1/ops/failures", new JobsActedOn(retried.Count, retried, skipped));
    }

    /// <summary>Takes the group's jobs off the list without retrying them; a job that fails again comes back.</summary>
    public static async Task<Results<Ok<JobsActedOn>, ProblemHttpResult>> ArchiveFailureGroup(string groupId, HttpContext context,
        FailureGroups failures, CancellationToken cancellationToken)
    {
        var actor = Caller.From(context.User).Actor;
        var archived = new List<Guid>();
        while (await failures.JobsAsync(groupId, null, Batch, cancellationToken) is { Count: > 0 } page)
        {
            var done = await failures.ArchiveAsync(page, actor, cancellationToken);
            archived.AddRange(done);
            if (done.Count == 0)
            {
                break;
            }
        }

        return archived.Count == 0 ? UnknownGroup(groupId) : TypedResults.Ok(new JobsActedOn(archived.Count, archived));
    }

    /// <summary>Every <c>_error</c> queue of the virtual host, with its first messages (none are taken off the queue).</summary>
    public static async Task<Results<Ok<DeadLettersView>, ProblemHttpResult>> ListDeadLetters(DeadLetterQueues deadLetters, int? limit,
        CancellationToken cancellationToken)
    {
        if (limit is < 0 or > MaxPageSize)
        {
            return BadQuery($"limit must be between 0 and {MaxPageSize}.");
        }

        var views = new List<DeadLetterQueueView>();
        foreach (var queue in await deadLetters.ListAsync(cancellationToken))
        {
            views.Add(await ViewAsync(deadLetters, queue, 0, limit ?? DefaultMessagesPerQueue, cancellationToken));
        }

        return TypedResults.Ok(new DeadLettersView(views));
    }

    /// <summary>A page of one <c>_error</c> queue's messages, in queue order.</summary>
    public static async Task<Results<Ok<DeadLetterQueueView>, ProblemHttpResult>> GetDeadLetterQueue(string queue,
        DeadLetterQueues deadLetters, int? offset, int? limit, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxPageSize || offset is < 0)
        {
            return BadQuery($"limit must be between 1 and {MaxPageSize}, offset 0 or more.");
        }

        var found = await FindQueueAsync(deadLetters, queue, cancellationToken);
        return found is null
            ? UnknownQueue(queue)
            : TypedResults.Ok(await ViewAsync(deadLetters, found, offset ?? 0, limit ?? DefaultPageSize, cancellationToken));
    }

    /// <summary>Sends every message the queue holds back to the queue it failed in.</summary>
    public static Task<Results<Accepted<Redelivered>, ProblemHttpResult>> RedeliverAll(string queue, HttpContext context,
        DeadLetterQueues deadLetters, CancellationToken cancellationToken) =>
        RedeliverAsync(queue, null, context, deadLetters, cancellationToken);

    /// <summary>Sends one message back to the queue it failed in.</summary>
    public static Task<Results<Accepted<Redelivered>, ProblemHttpResult>> RedeliverOne(string queue, string messageId, HttpContext context,
        DeadLetterQueues deadLetters, CancellationToken cancellationToken) =>
        RedeliverAsync(queue, messageId, context, deadLetters, cancellationToken);

    private static async Task<Results<Accepted<Redelivered>, ProblemHttpResult>> RedeliverAsync(string queue, string? messageId,
        HttpContext context, DeadLetterQueues deadLetters, CancellationToken cancellationToken)
    {
        var found = await FindQueueAsync(deadLetters, queue, cancellationToken);
        if (found is null)
        {
            return UnknownQueue(queue);
        }

        if (found.OriginalQueue.Length == 0)
        {
            return TypedResults.Problem(statusCode: 409, title: "The original queue is gone",
                detail: $"Queue {queue[..^DeadLetterQueues.Suffix.Length]} does not exist any more; its messages have nowhere to go.");
        }

        var moved = await deadLetters.RedeliverAsync(found, messageId, Caller.From(context.User).Actor, cancellationToken);
        if (messageId is not null && moved.Count == 0)
        {
            return TypedResults.Problem(statusCode: 404, title: "Unknown message",
                detail: $"Queue {queue} holds no message {messageId} (it may have been redelivered already).");
        }

        return TypedResults.Accepted(DeadLetterUrl(queue), new Redelivered(found.Queue, found.OriginalQueue, moved.Count, moved));
    }

    private static async Task<(List<Guid> Retried, List<SkippedJob> Skipped)> RetryAsync(string? groupId, Caller caller,
        FailureGroups failures, JobStore jobs, CancellationToken cancellationToken)
    {
        // Keyset pages, newest failure first: a job retried here that fails again at once has a
        // newer failure than the cursor and is not retried twice by this request.
        var retried = new List<Guid>();
        var skipped = new List<SkippedJob>();
        FailureCursor? after = null;
        while (true)
        {
            var page = await failures.JobsAsync(groupId, after, Batch, cancellationToken);
            foreach (var job in page)
            {
                if (job.Code == RejectLimits.ErrorCode)
                {
                    skipped.Add(new SkippedJob(job.JobId,
                        $"It stopped at its reject limit and would stop again at once: retry it with higher limits in the body of POST /v1/jobs/{job.JobId}/retry."));
                    continue;
                }

                await jobs.SendAsync(new RetryJob(job.JobId, caller.Actor), Queues.Address(Queues.JobsOf(job.Kind)), cancellationToken);
                retried.Add(job.JobId);
            }

            if (page.Count < Batch)
            {
                return (retried, skipped);
            }

            after = new FailureCursor(page[^1].FailedAt, page[^1].JobId);
        }
    }

    private static async Task<DeadLetterQueueView> ViewAsync(DeadLetterQueues deadLetters, ErrorQueueInfo queue, int offset, int limit,
        CancellationToken cancellationToken)
    {
        var (messages, total) = limit == 0 ? ([], queue.Messages) : await deadLetters.PeekAsync(queue.Queue, offset, limit, cancellationToken);
        var url = DeadLetterUrl(queue.Queue);
        var next = limit > 0 && offset + messages.Count < total
            ? $"{url}?offset={(offset + messages.Count).ToString(CultureInfo.InvariantCulture)}&limit={limit.ToString(CultureInfo.InvariantCulture)}"
            : null;
        return new DeadLetterQueueView(queue.Queue, queue.OriginalQueue, total, messages, next,
            new Dictionary<string, string> { ["self"] = url, ["redeliver"] = $"{url}/redeliver" });
    }

    private static async Task<ErrorQueueInfo?> FindQueueAsync(DeadLetterQueues deadLetters, string queue, CancellationToken cancellationToken) =>
        queue.EndsWith(DeadLetterQueues.Suffix, StringComparison.Ordinal)
            ? (await deadLetters.ListAsync(cancellationToken)).FirstOrDefault(q => q.Queue == queue)
            : null;

    private static bool TryDecodeCursor(string value, out FailureCursor? cursor)
    {
        var parts = value.Split('-');
        cursor = parts.Length == 2
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
            && ticks is > 0 and < 3155378975999999999
            && Guid.TryParseExact(parts[1], "N", out var id)
                ? new FailureCursor(new DateTimeOffset(ticks, TimeSpan.Zero), id)
                : null;
        return cursor is not null;
    }

    private static ProblemHttpResult UnknownGroup(string groupId) =>
        TypedResults.Problem(statusCode: 404, title: "Unknown failure group",
            detail: $"No failed job has the cause {groupId} (its jobs may have been retried or archived); GET /v1/ops/failures lists the groups.");

    private static ProblemHttpResult UnknownQueue(string queue) =>
        TypedResults.Problem(statusCode: 404, title: "Unknown error queue",
            detail: $"'{queue}' is not an _error queue of this service's virtual host; GET /v1/ops/dead-letters lists them.");

    private static ProblemHttpResult BadQuery(string detail) =>
        TypedResults.Problem(statusCode: 400, title: "Invalid query", detail: detail);
}
