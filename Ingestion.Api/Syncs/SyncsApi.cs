using Ingestion.Api.Jobs;
using Ingestion.Api.Security;
using Ingestion.Contracts.Syncs;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Limits;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Webhooks;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Syncs;

public static class SyncsApi
{
    public static IEndpointRouteBuilder MapSyncsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/sources")
            .RequireAuthorization(SecurityExtensions.TenantPolicy)
            .WithTags("Syncs")
            .MapPost("/{name}/syncs", StartSync);
        return app;
    }

    /// <param name="Mode"><c>full</c> (the default) or <c>incremental</c>: from the dataset's high-water mark minus the source's lookback.</param>
    /// <param name="Since">Records from this time (inclusive), for a source that declares its since parameter.</param>
    /// <param name="Until">Records before this time, for a source that declares its until parameter.</param>
    /// <param name="CallbackUrl">Optional http(s) URL that receives a signed webhook when the sync ends.</param>
    public sealed record SyncRequest(string? Mode = null, DateTimeOffset? Since = null, DateTimeOffset? Until = null, string? CallbackUrl = null);

    /// <summary>
    /// Starts a sync of the source into its dataset; 202 with the job, which shows its progress and, at the end, its
    /// reconciliation; 409 naming the job when a sync of the source is still queued or syncing.
    /// </summary>
    public static async Task<Results<Accepted<JobAccepted>, ValidationProblem, ProblemHttpResult>> StartSync(
        string name, HttpContext context, SourceCatalog sources, DatasetCatalog datasets, JobStore jobs, CallbackGuard callbacks,
        JobRateLimit rateLimit, CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        var request = context.Request;
        if (Idempotency.Read(request, out var idempotencyKey) is { } invalidKey)
        {
            return invalidKey;
        }

        SyncRequest? body = null;
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            (body, var unreadable) = await JobSubmission.ReadAsync<SyncRequest>(request, "sync request", cancellationToken);
            if (unreadable is not null)
            {
                return unreadable;
            }
        }

        body ??= new SyncRequest();
        if (await sources.FindAsync(caller.TenantId!, name, cancellationToken) is not { } source)
        {
            return TypedResults.Problem(statusCode: 404, title: "No such source",
                detail: $"The tenant has no source named '{name}'; register it with POST /v1/sources.");
        }

        var errors = Validate(body, source.Definition);
        if (body.CallbackUrl is { } url && await callbacks.RefusalAsync(url, caller.TenantId!, cancellationToken) is { } refusal)
        {
            errors["callbackUrl"] = [refusal];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The sync request is not valid");
        }

        if (await datasets.FindAsync(caller.TenantId!, source.Definition.Dataset, cancellationToken) is not { } dataset)
        {
            return TypedResults.Problem(statusCode: 409, title: "The source's dataset does not exist",
                detail: $"Source '{name}' loads into dataset '{source.Definition.Dataset}', which is not registered; create it first.");
        }

        var mode = (body.Mode ?? "full").ToLowerInvariant();
        if (mode == "incremental" && dataset.Key.Count == 0)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["mode"] = [SourceRules.KeylessIncremental(dataset.Name)] },
                title: "The sync request is not valid");
        }

        if (idempotencyKey is not null && await jobs.FindByIdempotencyKeyAsync(caller.TenantId!, idempotencyKey, cancellationToken) is { } earlier)
        {
            return Replay(context, earlier, name, mode, body);
        }

        if (await JobLimits.CheckAsync(context, caller, rateLimit, cancellationToken) is { } tooMany)
        {
            return tooMany;
        }

        var now = DateTimeOffset.UtcNow;
        var job = new SyncJob
        {
            CorrelationId = NewId.NextGuid(),
            CurrentState = SyncJob.States.Queued,
            TenantId = caller.TenantId!,
            IdempotencyKey = idempotencyKey,
            CreatedAt = now,
            UpdatedAt = now,
            Source = source.Definition.Name,
            TargetDataset = source.Definition.Dataset,
            Mode = mode,
            Since = body.Since,
            Until = body.Until,
            CallbackUrl = body.CallbackUrl,
        };
        var command = new SubmitSync(job.CorrelationId, job.TenantId, job.Source, job.Mode, job.Since, job.Until, job.CallbackUrl);
        var start = await SyncStarts.StartAsync(jobs, job, command, caller.Actor, JobLimits.For(caller, rateLimit),
            cancellationToken);
        if (start.Running is { } running)
        {
            // A retry whose original is the running job (or came in while this one waited for the source) is its replay, not a conflict.
            if (idempotencyKey is not null && await jobs.FindByIdempotencyKeyAsync(caller.TenantId!, idempotencyKey, cancellationToken) is { } original)
            {
                return Replay(context, original, name, mode, body);
            }

            // One sync of a source at a time: a second would fetch the same pages on the same budget and race on its watermark.
            var problem = TypedResults.Problem(statusCode: 409, title: "A sync of this source is not done yet",
                detail: $"Sync job {running} of source '{name}' is still queued or syncing; follow it at {JobsApi.StatusUrl(running)}, or cancel it, before starting another.");
            problem.ProblemDetails.Extensions["runningJobId"] = running;
            problem.ProblemDetails.Extensions["statusUrl"] = JobsApi.StatusUrl(running);
            return problem;
        }

        // No creation only when a running sync declined it, answered above.
        return await JobSubmission.AnswerAsync(start.Creation ?? JobCreation.Created, job, context, caller, jobs, rateLimit,
            winner => Replay(context, winner, name, mode, body), cancellationToken);
    }

    internal static Dictionary<string, string[]> Validate(SyncRequest body, SourceDefinition source)
    {
        var errors = new Dictionary<string, string[]>();
        if (body.Mode is { } mode && !mode.Equals("full", StringComparison.OrdinalIgnoreCase) && !mode.Equals("incremental", StringComparison.OrdinalIgnoreCase))
        {
            errors["mode"] = [$"'{mode}' is not a mode; use full or incremental."];
        }
        else if (body.Mode?.Equals("incremental", StringComparison.OrdinalIgnoreCase) == true && source.Incremental is null)
        {
            errors["mode"] = ["the source declares no incremental field, so it can only be synced in full."];
        }

        if ((body.Since is not null || body.Until is not null) && source.Incremental is null)
        {
            errors[body.Since is not null ? "since" : "until"] = ["the source declares no since/until parameters to ask for a time range."];
        }
        else if (body.Until is not null && source.Incremental?.UntilParameter is null)
        {
            errors["until"] = ["the source declares no until parameter."];
        }

        if (body.Since is { } since && body.Until is { } until && since >= until)
        {
            errors["since"] = [$"{since:o} is not before until ({until:o})."];
        }

        return errors;
    }

    private static Results<Accepted<JobAccepted>, ValidationProblem, ProblemHttpResult> Replay(HttpContext context,
        JobState earlier, string name, string mode, SyncRequest body) =>
        JobSubmission.Replay(context, earlier,
            earlier is SyncJob s && s.Source == name && s.Mode == mode && s.Since == body.Since && s.Until == body.Until,
            earlier is SyncJob other ? $"a {other.Mode} sync of source {other.Source}" : $"a {earlier.Kind} job");
}
