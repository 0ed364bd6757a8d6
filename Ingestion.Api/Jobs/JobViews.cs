using System.Text.Json.Serialization.Metadata;
using Ingestion.Api.Indexes;
using Ingestion.Api.Statements;
using Ingestion.Api.Syncs;
using Ingestion.Api.Uploads;
using Ingestion.Platform.Jobs;
using Microsoft.AspNetCore.OpenApi;

namespace Ingestion.Api.Jobs;

/// <summary>
/// The view of every kind of job (<see cref="JobKindView"/>), one per kind in <see cref="JobKinds"/>.
/// Their fields become properties of <see cref="JobView"/> in the API's JSON (and its OpenAPI
/// document): every job shows every kind's fields, null where they are not its own, so a client
/// sees one shape whatever the kind.
/// </summary>
public static class JobViews
{
    /// <summary>The registered views; adding a kind of job adds its view here.</summary>
    private static readonly IReadOnlyList<JobKindView> Registered =
    [
        new UploadKindView(),
        new StatementKindView(),
        new SyncKindView(),
        new IndexBuildKindView(),
    ];

    private static readonly Dictionary<JobKind, JobKindView> ByKind = Registered.ToDictionary(v => v.Kind);

    /// <summary>The views in the order of <see cref="JobKinds.All"/>, which is the order of their fields.</summary>
    public static readonly IReadOnlyList<JobKindView> All = JobKinds.All.Select(Of).ToList();

    public static JobKindView Of(JobState job) => Of(JobKinds.Of(job));

    public static JobKindView Of(JobKind kind) =>
        ByKind.TryGetValue(kind, out var view)
            ? view
            : throw new InvalidOperationException($"The {kind.Name} job kind has no view in the API: add one to JobViews.");

    /// <summary>Shows each kind's fields of <see cref="JobView"/> in the answers of every endpoint and in the OpenAPI document.</summary>
    public static IServiceCollection AddJobViews(this IServiceCollection services) =>
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolver =
            (json.SerializerOptions.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver()).WithAddedModifier(AddKindFields));

    /// <summary>
    /// In the OpenAPI document every property of the job view is required, the kinds' fields too:
    /// each is always present, null where the job has none.
    /// </summary>
    public static OpenApiOptions AddJobViewSchema(this OpenApiOptions options) =>
        options.AddSchemaTransformer((schema, context, _) =>
        {
            if (context.JsonTypeInfo.Type != typeof(JobView) || schema.Properties is not { } properties)
            {
                return Task.CompletedTask;
            }

            schema.Required = new HashSet<string>(properties.Keys);
            return Task.CompletedTask;
        });

    private static void AddKindFields(JsonTypeInfo type)
    {
        if (type.Type != typeof(JobView))
        {
            return;
        }

        Insert(type, nameof(JobView.Dataset), JobViewSlot.Subject);
        Insert(type, nameof(JobView.Error), JobViewSlot.Outcome);
    }

    private static void Insert(JsonTypeInfo type, string after, JobViewSlot slot)
    {
        var anchor = JsonName(type, after);
        var index = type.Properties.Select(p => p.Name).ToList().IndexOf(anchor) + 1;
        foreach (var field in All.SelectMany(v => v.Fields).Where(f => f.Slot == slot))
        {
            var property = type.CreateJsonPropertyInfo(field.Type, JsonName(type, field.Name));
            property.Get = view => ((JobView)view).Fields.GetValueOrDefault(field.Name);
            type.Properties.Insert(index++, property);
        }
    }

    private static string JsonName(JsonTypeInfo type, string name) => type.Options.PropertyNamingPolicy?.ConvertName(name) ?? name;
}
