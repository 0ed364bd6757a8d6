using System.Globalization;
using Ingestion.Api.Jobs;
using Ingestion.Api.Security;
using Ingestion.Contracts.Statements;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Limits;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Statements;
using Ingestion.Platform.Webhooks;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Statements;

public static class StatementsApi
{
    public static IEndpointRouteBuilder MapStatementsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/statements")
            .RequireAuthorization(SecurityExtensions.TenantPolicy)
            .WithTags("Statements")
            .MapPost("/", RequestStatement);
        return app;
    }

    /// <param name="From">First day, <c>YYYY-MM-DD</c> (UTC).</param>
    /// <param name="To">Last day, inclusive; today when left out.</param>
    /// <param name="CallbackUrl">Optional http(s) URL that receives a signed webhook when the statement is ready or failed.</param>
    public sealed record StatementRequest(long? AccountId, string? From, string? To, string? CallbackUrl = null);

    /// <summary>Requests an account's statement for a period; 202 with the job, whose download link appears when it is ready.</summary>
    public static async Task<Results<Accepted<JobAccepted>, ValidationProblem, ProblemHttpResult>> RequestStatement(
        HttpContext context, JobStore jobs, CallbackGuard callbacks, JobRateLimit rateLimit, IOptions<StatementOptions> options,
        CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        var request = context.Request;
        if (Idempotency.Read(request, out var idempotencyKey) is { } invalidKey)
        {
            return invalidKey;
        }

        var (body, unreadable) = await JobSubmission.ReadAsync<StatementRequest>(request, "statement request", cancellationToken);
        if (unreadable is not null)
        {
            return unreadable;
        }

        var (period, errors) = Validate(body, options.Value.MaxPeriodDays);
        if (body?.CallbackUrl is { } url && await callbacks.RefusalAsync(url, caller.TenantId!, cancellationToken) is { } refusal)
        {
            errors["callbackUrl"] = [refusal];
        }

        if (period is null || errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The statement request is not valid");
        }

        var (account, from, to) = period.Value;
        if (idempotencyKey is not null && await jobs.FindByIdempotencyKeyAsync(caller.TenantId!, idempotencyKey, cancellationToken) is { } earlier)
        {
            return Replay(context, earlier, account, from, to);
        }

        if (await JobLimits.CheckAsync(context, caller, rateLimit, cancellationToken) is { } tooMany)
        {
            return tooMany;
        }

        var now = DateTimeOffset.UtcNow;
        var job = new StatementJob
        {
            CorrelationId = NewId.NextGuid(),
            CurrentState = StatementJob.States.Requested,
            TenantId = caller.TenantId!,
            IdempotencyKey = idempotencyKey,
            CreatedAt = now,
            UpdatedAt = now,
            AccountId = account,
            From = from,
            To = to,
            CallbackUrl = body!.CallbackUrl,
        };
        var command = new BuildStatement(job.CorrelationId, job.TenantId, account, from, to, job.CallbackUrl);
        var creation = await jobs.CreateAsync(job, command, Queues.Address(Queues.StatementJobs), caller.Actor,
            JobLimits.For(caller, rateLimit), cancellationToken);
        return await JobSubmission.AnswerAsync(creation, job, context, caller, jobs, rateLimit,
            winner => Replay(context, winner, account, from, to), cancellationToken);
    }

    internal static ((long Account, DateOnly From, DateOnly To)? Period, Dictionary<string, string[]> Errors) Validate(
        StatementRequest? body, int maxPeriodDays)
    {
        var errors = new Dictionary<string, string[]>();
        if (body?.AccountId is null)
        {
            errors["accountId"] = ["is required: the account's id, a number."];
        }

        var from = ParseDate(body?.From, "from", errors, required: true);
        var to = ParseDate(body?.To, "to", errors, required: false) ?? DateOnly.FromDateTime(DateTime.UtcNow);
        if (errors.Count == 0 && from > to)
        {
            errors["from"] = [$"{from:yyyy-MM-dd} is after to ({to:yyyy-MM-dd})."];
        }
        else if (errors.Count == 0 && to.DayNumber - from!.Value.DayNumber + 1 > maxPeriodDays)
        {
            errors["to"] = [$"the period covers {to.DayNumber - from.Value.DayNumber + 1} days; a statement covers at most {maxPeriodDays}."];
        }

        return errors.Count > 0 ? (null, errors) : ((body!.AccountId!.Value, from!.Value, to), errors);
    }

    private static DateOnly? ParseDate(string? value, string field, Dictionary<string, string[]> errors, bool required)
    {
        if (value is null)
        {
            if (required)
            {
                errors[field] = ["is required, as YYYY-MM-DD."];
            }

            return null;
        }

        if (DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            return date;
        }

        errors[field] = [$"'{value}' is not a date; use YYYY-MM-DD."];
        return null;
    }

    private static Results<Accepted<JobAccepted>, ValidationProblem, ProblemHttpResult> Replay(HttpContext context, JobState earlier,
        long account, DateOnly from, DateOnly to) =>
        JobSubmission.Replay(context, earlier,
            earlier is StatementJob s && s.AccountId == account && s.From == from && s.To == to,
            earlier is StatementJob other
                ? $"a statement of account {other.AccountId} for {other.From:yyyy-MM-dd} to {other.To:yyyy-MM-dd}"
                : $"a {earlier.Kind} job");
}
