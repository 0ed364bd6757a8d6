using System.Text.Json;

namespace Ingestion.Platform.Jobs;

/// <summary>How a job's instance is written to and read from the <c>data</c> column; its kind (<see cref="JobKinds"/>) says which class it is.</summary>
public static class JobSerializer
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public static bool IsKind(string kind) => JobKinds.TryGet(kind, out _);

    public static string KindOf(Type type) => JobKinds.Of(type).Name;

    public static string Serialize(JobState job) => JsonSerializer.Serialize(job, job.GetType(), Options);

    public static JobState Deserialize(string kind, string json) =>
        JobKinds.TryGet(kind, out var registered)
            ? (JobState)(JsonSerializer.Deserialize(json, registered.StateType, Options) ?? throw new JsonException($"Job data of kind {kind} is empty."))
            : throw new JsonException($"Unknown job kind '{kind}'.");

    public static T Deserialize<T>(string json)
        where T : JobState =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"Job data of {typeof(T).Name} is empty.");
}
