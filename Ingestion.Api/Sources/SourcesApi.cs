using System.Text.Json;
using Ingestion.Api.Security;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Sources;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Sources;

/// <summary>
/// A tenant's declared HTTP sources: register, list, read, replace, delete. The credential's secret
/// is write-only: it is accepted in <c>auth.secret</c>, sealed, and every response says only
/// <c>hasSecret</c>. Request logs carry the path, never the body, so it is not logged either.
/// </summary>
public static class SourcesApi
{
    public static IEndpointRouteBuilder MapSourcesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/sources").RequireAuthorization(SecurityExtensions.TenantPolicy).WithTags("Sources");
        api.MapPost("/", RegisterSource);
        api.MapGet("/", ListSources);
        api.MapGet("/{name}", GetSource);
        api.MapPut("/{name}", ReplaceSource);
        api.MapDelete("/{name}", DeleteSource);
        api.MapSourceBudget();
        return app;
    }

    public sealed record SourceView(
        string Name,
        string Dataset,
        RequestView Request,
        AuthView? Auth,
        PaginationView Pagination,
        SourceRecords Records,
        RateLimitView RateLimit,
        IncrementalView? Incremental,
        SourcePartitions? Partitions,
        ScheduleView? Schedule,
        DateTimeOffset UpdatedAt,
        string SyncsUrl);

    public sealed record RequestView(string BaseUrl, string Path, IReadOnlyDictionary<string, string>? Query, IReadOnlyDictionary<string, string>? Headers);

    /// <summary>
    /// How the credential is sent, and whether one is stored; never the secret. <c>secretUnreadable</c>:
    /// one is stored but no longer opens (the service's key changed); send it again with PUT.
    /// </summary>
    public sealed record AuthView(string In, string Name, string? Prefix, bool HasSecret, bool SecretUnreadable);

    public sealed record PaginationView(
        string Style,
        string? CursorPath,
        string? CursorHeader,
        string? CursorParameter,
        string? NextLinkPath,
        string? HasMorePath,
        string? PageParameter,
        int StartPage,
        string? OffsetParameter,
        string? LimitParameter,
        int? PageSize);

    public sealed record RateLimitView(IReadOnlyList<RateLimitPolicy> Policies, bool LearnFromHeaders, int MarginMilliseconds);

    public sealed record IncrementalView(string Column, string SinceParameter, string? UntilParameter, string Format, int LookbackSeconds);

    public sealed record ScheduleView(int EveryMinutes, string Mode);

    public static async Task<Results<Created<SourceView>, ValidationProblem, ProblemHttpResult>> RegisterSource(
        HttpRequest request, SourceCatalog catalog, DatasetCatalog datasets, SourceGuard guard, IOptions<SourceOptions> options,
        CancellationToken cancellationToken)
    {
        var tenant = Caller.From(request.HttpContext.User).TenantId!;
        var (body, unreadable) = await ReadAsync(request, cancellationToken);
        if (body is null)
        {
            return unreadable!;
        }

        var (valid, errors) = await ValidateAsync(body, tenant, storedSecret: false, datasets, guard, options.Value, cancellationToken);
        if (valid is null)
        {
            return TypedResults.ValidationProblem(errors, title: "The source is not valid");
        }

        if (!await catalog.CreateAsync(tenant, valid.Source, valid.Secret, cancellationToken))
        {
            return TypedResults.Problem(statusCode: 409, title: "Source exists",
                detail: $"This tenant already has a source named '{valid.Source.Name}'; replace it with PUT /v1/sources/{valid.Source.Name}.");
        }

        var stored = await catalog.FindAsync(tenant, valid.Source.Name, cancellationToken);
        return TypedResults.Created($"/v1/sources/{valid.Source.Name}", View(stored!));
    }

    public static async Task<Ok<IReadOnlyList<SourceView>>> ListSources(HttpContext context, SourceCatalog catalog,
        CancellationToken cancellationToken)
    {
        var tenant = Caller.From(context.User).TenantId!;
        var sources = await catalog.ListAsync(tenant, cancellationToken);
        return TypedResults.Ok<IReadOnlyList<SourceView>>(sources.Select(View).ToList());
    }

    public static async Task<Results<Ok<SourceView>, ProblemHttpResult>> GetSource(string name, HttpContext context, SourceCatalog catalog,
        CancellationToken cancellationToken)
    {
        var tenant = Caller.From(context.User).TenantId!;
        var source = await catalog.FindAsync(tenant, name, cancellationToken);
        return source is null ? UnknownSource(name) : TypedResults.Ok(View(source));
    }

    /// <summary>Replaces the whole definition. Without <c>auth.secret</c> the stored secret is kept (a client cannot read it to send it back).</summary>
    public static async Task<Results<Ok<SourceView>, ValidationProblem, ProblemHttpResult>> ReplaceSource(
        string name, HttpRequest request, SourceCatalog catalog, DatasetCatalog datasets, SourceGuard guard, IOptions<SourceOptions> options,
        CancellationToken cancellationToken)
    {
        var tenant = Caller.From(request.HttpContext.User).TenantId!;
        var existing = await catalog.FindAsync(tenant, name, cancellationToken);
        if (existing is null)
        {
            return UnknownSource(name);
        }

        var (body, unreadable) = await ReadAsync(request, cancellationToken);
        if (body is null)
        {
            return unreadable!;
        }

        if (body.Name is not null && body.Name != name)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]>
            {
                ["name"] = [$"must be '{name}', as in the URL: a source is not renamed (register a new one and delete this one)."],
            }, title: "The source is not valid");
        }

        var (valid, errors) = await ValidateAsync(body with { Name = name }, tenant, existing.HasSecret, datasets, guard, options.Value,
            cancellationToken);
        if (valid is null)
        {
            return TypedResults.ValidationProblem(errors, title: "The source is not valid");
        }

        if (!await catalog.ReplaceAsync(tenant, valid.Source, valid.Secret, cancellationToken))
        {
            return UnknownSource(name);
        }

        return TypedResults.Ok(View((await catalog.FindAsync(tenant, name, cancellationToken))!));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteSource(string name, HttpContext context, SourceCatalog catalog,
        CancellationToken cancellationToken)
    {
        var tenant = Caller.From(context.User).TenantId!;
        return await catalog.DeleteAsync(tenant, name, cancellationToken) ? TypedResults.NoContent() : UnknownSource(name);
    }

    public static ProblemHttpResult UnknownSource(string name) =>
        TypedResults.Problem(statusCode: 404, title: "Unknown source", detail: $"This tenant has no source named '{name}'.");

    private static async Task<(SourceRules.SourceBody? Body, ProblemHttpResult? Problem)> ReadAsync(HttpRequest request,
        CancellationToken cancellationToken)
    {
        try
        {
            var body = await request.ReadFromJsonAsync<SourceRules.SourceBody>(cancellationToken);
            return body is null
                ? (null, TypedResults.Problem(statusCode: 400, title: "The body is not a valid source", detail: "The body is empty."))
                : (body, null);
        }
        catch (JsonException e)
        {
            // The message names the path and position of the fault, never the value (which may be the secret).
            return (null, TypedResults.Problem(statusCode: 400, title: "The body is not a valid source", detail: e.Message));
        }
        catch (InvalidOperationException e) when (!request.HasJsonContentType())
        {
            return (null, TypedResults.Problem(statusCode: 415, title: "Send the source as application/json", detail: e.Message));
        }
    }

    /// <summary>The rules, then the base URL's address (DNS), all problems reported together.</summary>
    private static async Task<(SourceRules.ValidSource? Source, Dictionary<string, string[]> Errors)> ValidateAsync(
        SourceRules.SourceBody body, string tenant, bool storedSecret, DatasetCatalog datasets, SourceGuard guard, SourceOptions options,
        CancellationToken cancellationToken)
    {
        var dataset = Identifier.IsValid(body.Dataset) ? await datasets.FindAsync(tenant, body.Dataset!, cancellationToken) : null;
        var (valid, errors) = SourceRules.Validate(body, dataset, options.MinimumScheduleMinutes);

        // Where the URL leads, once its form is right: the lookup is the one check that needs the network.
        if (!errors.ContainsKey("request.baseUrl") && !string.IsNullOrWhiteSpace(body.Request?.BaseUrl)
            && (await guard.CheckAsync(new Uri(body.Request.BaseUrl.Trim()), cancellationToken)).Problem is { } refusal)
        {
            errors["request.baseUrl"] = [refusal];
        }

        if (body.Auth is not null && body.Auth.Secret is null && !storedSecret)
        {
            errors["auth.secret"] = ["is required with auth: the credential, sent once and kept sealed (it is never returned)."];
        }

        return errors.Count == 0 ? (valid, errors) : (null, errors);
    }

    private static SourceView View(StoredSource stored)
    {
        var d = stored.Definition;
        var p = d.Pagination;
        return new SourceView(
            d.Name,
            d.Dataset,
            new RequestView(d.Request.BaseUrl, d.Request.Path, d.Request.Query, d.Request.Headers),
            d.Auth is null ? null : new AuthView(Camel(d.Auth.In), d.Auth.Name, d.Auth.Prefix, stored.HasSecret, stored.SecretUnreadable),
            new PaginationView(Camel(p.Style), p.CursorPath, p.CursorHeader, p.CursorParameter, p.NextLinkPath, p.HasMorePath,
                p.PageParameter, p.StartPage, p.OffsetParameter, p.LimitParameter, p.PageSize),
            d.Records,
            new RateLimitView(d.RateLimit.Policies, d.RateLimit.LearnFromHeaders, d.RateLimit.MarginMilliseconds),
            d.Incremental is { } i ? new IncrementalView(i.Column, i.SinceParameter, i.UntilParameter, Camel(i.Format), i.LookbackSeconds) : null,
            d.Partitions,
            d.Schedule is { } s ? new ScheduleView(s.EveryMinutes, Camel(s.Mode)) : null,
            stored.UpdatedAt,
            $"/v1/sources/{d.Name}/syncs");
    }

    private static string Camel<T>(T value)
        where T : struct, Enum => JsonNamingPolicy.CamelCase.ConvertName(value.ToString());
}
