using Ingestion.Api.Jobs;
using Ingestion.Api.Security;
using Ingestion.Contracts.Indexes;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Limits;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Webhooks;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Ingestion.Api.Indexes;

/// <summary>
/// <c>POST /v1/datasets/{name}/indexes</c>: adds a secondary index to a loaded dataset as a job, built
/// <c>CONCURRENTLY</c> by a worker so loads and reads go on. Its name is the service's, from the
/// dataset and the columns; one job builds each index, so asking again answers with that job.
/// </summary>
public static class IndexesApi
{
    private const string FindBuildSql = $"""
        select {JobRows.Columns} from ingestion.jobs
        where tenant_id = @tenant and kind = @kind and dataset = @dataset and data ->> 'indexName' = @name
        """;

    /// <summary>Builds of the dataset's indexes not yet ended: each will declare one more index.</summary>
    private const string PendingBuildsSql = """
        select count(*) from ingestion.jobs
        where tenant_id = @tenant and kind = @kind and dataset = @dataset and current_state in (@scheduled, @building)
        """;

    public static IEndpointRouteBuilder MapIndexesApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/v1/datasets")
            .RequireAuthorization(SecurityExtensions.TenantPolicy)
            .WithTags("Datasets")
            .MapPost("/{name}/indexes", AddIndex);
        return app;
    }

    /// <param name="Columns">The index's columns, in order: equality filters first, then one range, then the order.</param>
    /// <param name="CallbackUrl">Optional http(s) URL that receives a signed webhook when the build ends.</param>
    public sealed record IndexRequest(IReadOnlyList<string>? Columns, string? CallbackUrl = null);

    /// <summary>
    /// Builds an index on the dataset; 202 with the job, which shows PostgreSQL's progress. Once it is
    /// built, the dataset declares it and the read API serves the filters and orders it starts with.
    /// The same columns again answer with the job that builds (or built) them.
    /// </summary>
    public static async Task<Results<Accepted<JobAccepted>, ValidationProblem, ProblemHttpResult>> AddIndex(
        string name, HttpContext context, DatasetCatalog datasets, JobStore jobs, NpgsqlDataSource dataSource, CallbackGuard callbacks,
        JobRateLimit rateLimit, CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        var request = context.Request;
        if (Idempotency.Read(request, out var idempotencyKey) is { } invalidKey)
        {
            return invalidKey;
        }

        var (body, unreadable) = await JobSubmission.ReadAsync<IndexRequest>(request, "index request", cancellationToken);
        if (unreadable is not null)
        {
            return unreadable;
        }

        if (await datasets.FindAsync(caller.TenantId!, name, cancellationToken) is not { } dataset)
        {
            return TypedResults.Problem(statusCode: 404, title: "No such dataset", detail: $"The tenant has no dataset named '{name}'.");
        }

        var errors = new Dictionary<string, string[]>();
        if (DatasetIndex.Check(body?.Columns, c => dataset.Column(c) is not null) is { } invalid)
        {
            errors["columns"] = [$"The index {invalid} The dataset's columns are {string.Join(", ", dataset.Columns.Select(c => c.Name))}."];
        }

        if (body?.CallbackUrl is { } url && await callbacks.RefusalAsync(url, caller.TenantId!, cancellationToken) is { } refusal)
        {
            errors["callbackUrl"] = [refusal];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The index request is not valid");
        }

        // The definition's spelling of each column: only its identifiers ever reach SQL.
        var columns = body!.Columns!.Select(c => dataset.Column(c)!.Name).ToList();
        var indexName = DatasetIndex.NameOf(dataset.Name, columns);
        if (idempotencyKey is not null && await jobs.FindByIdempotencyKeyAsync(caller.TenantId!, idempotencyKey, cancellationToken) is { } earlier)
        {
            return Replay(context, earlier, dataset.Name, indexName);
        }

        if (await FindBuildAsync(dataSource, caller.TenantId!, dataset.Name, indexName, cancellationToken) is { } building)
        {
            return Idempotency.Accepted(building);
        }

        if (DatasetIndex.IsDeclared(dataset, columns))
        {
            return TypedResults.Problem(statusCode: 409, title: "The dataset already has this index",
                detail: $"Dataset '{dataset.Name}' declares the index {DatasetIndex.Describe(columns)} (its key, or since its registration).");
        }

        // Builds still queued count too: twenty requests in a row would otherwise all pass a check of the
        // declared ones (the declaration checks again, under its row lock, for requests that race this one).
        var pending = await CountPendingBuildsAsync(dataSource, caller.TenantId!, dataset.Name, cancellationToken);
        if (dataset.SecondaryIndexes.Count + pending >= DatasetIndex.MaxIndexes)
        {
            return TypedResults.Problem(statusCode: 409, title: "The dataset has as many indexes as it may",
                detail: $"Dataset '{dataset.Name}' has {dataset.SecondaryIndexes.Count} indexes and {pending} being built, " +
                        $"the most a dataset may have ({DatasetIndex.MaxIndexes}).");
        }

        if (await JobLimits.CheckAsync(context, caller, rateLimit, cancellationToken) is { } tooMany)
        {
            return tooMany;
        }

        var now = DateTimeOffset.UtcNow;
        var job = new IndexBuildJob
        {
            CorrelationId = NewId.NextGuid(),
            CurrentState = IndexBuildJob.States.Scheduled,
            TenantId = caller.TenantId!,
            IdempotencyKey = idempotencyKey,
            CreatedAt = now,
            UpdatedAt = now,
            TargetDataset = dataset.Name,
            Columns = columns,
            IndexName = indexName,
            CallbackUrl = body.CallbackUrl,
        };
        var command = new AddIndex(job.CorrelationId, job.TenantId, job.TargetDataset, job.Columns, job.CallbackUrl);
        switch (await jobs.CreateAsync(job, command, Queues.Address(Queues.IndexBuildJobs), caller.Actor, JobLimits.For(caller, rateLimit),
                    cancellationToken))
        {
            case JobCreation.Duplicate:
                // Either the idempotency key or the index (migration 0019) was taken by a request racing this one.
                if (idempotencyKey is not null && await jobs.FindByIdempotencyKeyAsync(caller.TenantId!, idempotencyKey, cancellationToken) is { } winner)
                {
                    return Replay(context, winner, dataset.Name, indexName);
                }

                return Idempotency.Accepted((await FindBuildAsync(dataSource, caller.TenantId!, dataset.Name, indexName, cancellationToken))!);
            case JobCreation.OverLimit:
                return await JobLimits.RefusedAsync(context, caller, rateLimit);
        }

        return Idempotency.Accepted(job);
    }

    private static async Task<long> CountPendingBuildsAsync(NpgsqlDataSource dataSource, string tenantId, string dataset,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(PendingBuildsSql);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("kind", IndexBuildJob.KindName);
        command.Parameters.AddWithValue("dataset", dataset);
        command.Parameters.AddWithValue("scheduled", IndexBuildJob.States.Scheduled);
        command.Parameters.AddWithValue("building", IndexBuildJob.States.Building);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<JobState?> FindBuildAsync(NpgsqlDataSource dataSource, string tenantId, string dataset, string indexName,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(FindBuildSql);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("kind", IndexBuildJob.KindName);
        command.Parameters.AddWithValue("dataset", dataset);
        command.Parameters.AddWithValue("name", indexName);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? JobRows.Read(reader) : null;
    }

    private static Results<Accepted<JobAccepted>, ValidationProblem, ProblemHttpResult> Replay(HttpContext context,
        JobState earlier, string dataset, string indexName) =>
        JobSubmission.Replay(context, earlier,
            earlier is IndexBuildJob b && b.TargetDataset == dataset && b.IndexName == indexName,
            earlier is IndexBuildJob other ? $"an index build of {other.IndexName} on {other.TargetDataset}" : $"a {earlier.Kind} job");
}
