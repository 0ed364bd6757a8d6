using System.Text.Json;
using System.Text.Json.Serialization;
using Ingestion.Api.Security;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Tenancy;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Datasets;

public static class DatasetsApi
{
    public static IEndpointRouteBuilder MapDatasetsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/datasets").RequireAuthorization(SecurityExtensions.TenantPolicy).WithTags("Datasets");
        api.MapPost("/", RegisterDataset);
        api.MapGet("/", ListDatasets);
        api.MapGet("/{name}", GetDataset);
        return app;
    }

    public sealed record DatasetView(
        string Name,
        string Table,
        IReadOnlyList<ColumnView> Columns,
        IReadOnlyList<string> Key,
        string OnKeyConflict,
        bool IgnoreUnknownColumns,
        long? MaxRejectedRows,
        double? MaxRejectedRatio,
        IReadOnlyList<IReadOnlyList<string>> Indexes,
        CsvDialect Dialect,
        string Format,
        string UploadUrl,
        string RowsUrl);

    public sealed record ColumnView(string Name, string Type, bool Required,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Source = null,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Format = null);

    public static async Task<Results<Created<DatasetView>, ValidationProblem, ProblemHttpResult>> RegisterDataset(
        HttpRequest request, DatasetCatalog catalog, CancellationToken cancellationToken)
    {
        var caller = Caller.From(request.HttpContext.User);
        DatasetRules.DatasetRequest? body;
        try
        {
            body = await request.ReadFromJsonAsync<DatasetRules.DatasetRequest>(cancellationToken);
        }
        catch (JsonException e)
        {
            return TypedResults.Problem(statusCode: 400, title: "The body is not a valid dataset", detail: e.Message);
        }
        catch (InvalidOperationException e) when (!request.HasJsonContentType())
        {
            return TypedResults.Problem(statusCode: 415, title: "Send the dataset as application/json", detail: e.Message);
        }

        if (body is null)
        {
            return TypedResults.Problem(statusCode: 400, title: "The body is not a valid dataset", detail: "The body is empty.");
        }

        var (dataset, errors) = DatasetRules.Validate(body);
        if (dataset is null)
        {
            return TypedResults.ValidationProblem(errors, title: "The dataset is not valid");
        }

        if (!await catalog.CreateAsync(caller.TenantId!, dataset, cancellationToken))
        {
            return TypedResults.Problem(statusCode: 409, title: "Dataset exists",
                detail: $"This tenant already has a dataset named '{dataset.Name}'.");
        }

        return TypedResults.Created($"/v1/datasets/{dataset.Name}", View(caller.TenantId!, dataset));
    }

    public static async Task<Ok<IReadOnlyList<DatasetView>>> ListDatasets(HttpContext context, DatasetCatalog catalog,
        CancellationToken cancellationToken)
    {
        var tenant = Caller.From(context.User).TenantId!;
        var datasets = await catalog.ListAsync(tenant, cancellationToken);
        return TypedResults.Ok<IReadOnlyList<DatasetView>>(datasets.Select(d => View(tenant, d)).ToList());
    }

    public static async Task<Results<Ok<DatasetView>, ProblemHttpResult>> GetDataset(string name, HttpContext context,
        DatasetCatalog catalog, CancellationToken cancellationToken)
    {
        var tenant = Caller.From(context.User).TenantId!;
        var dataset = await catalog.FindAsync(tenant, name, cancellationToken);
        return dataset is null ? UnknownDataset(name) : TypedResults.Ok(View(tenant, dataset));
    }

    public static ProblemHttpResult UnknownDataset(string name) =>
        TypedResults.Problem(statusCode: 404, title: "Unknown dataset", detail: $"This tenant has no dataset named '{name}'.");

    private static DatasetView View(string tenantId, DatasetDefinition d) => new(
        d.Name,
        $"{TenantSchema.NameOf(tenantId)}.{d.Name}",
        d.Columns.Select(c => new ColumnView(c.Name, c.Type.ToSql(), c.Required, c.Source, c.Format)).ToList(),
        d.Key,
        d.OnKeyConflict.ToString().ToLowerInvariant(),
        d.IgnoreUnknownColumns,
        d.MaxRejectedRows,
        d.MaxRejectedRatio,
        d.SecondaryIndexes,
        d.CsvDialect,
        d.FileFormat,
        $"/v1/datasets/{d.Name}/uploads",
        $"/v1/datasets/{d.Name}/rows");
}
