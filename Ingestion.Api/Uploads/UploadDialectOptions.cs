using Ingestion.Platform.Datasets;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Uploads;

/// <summary>
/// An upload's overrides of its dataset's CSV dialect (<see cref="CsvDialectRules.UploadOptions"/>), from query parameters
/// or multipart form fields, resolved into the dialect the job reads its file with.
/// </summary>
public static class UploadDialectOptions
{
    public static Dictionary<string, string> FromQuery(IQueryCollection query)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in CsvDialectRules.UploadOptions)
        {
            if (query.TryGetValue(name, out var values))
            {
                // A repeated option is ambiguous; the last one would win silently, so the values are kept together and refused.
                options[name] = values.Count == 1 ? values[0] ?? "" : string.Join("\u0000", values.ToArray());
            }
        }

        return options;
    }

    /// <summary>Lets the form carry the dialect options; their values are checked together once the form has been read.</summary>
    public static void AcceptFormFields(IDictionary<string, Func<string, CancellationToken, Task<string?>>> fields)
    {
        foreach (var name in CsvDialectRules.UploadOptions)
        {
            fields[name] = (_, _) => Task.FromResult<string?>(null);
        }
    }

    /// <summary>Form fields override query parameters of the same name.</summary>
    public static void AddFormFields(Dictionary<string, string> options, IReadOnlyDictionary<string, string> form)
    {
        foreach (var name in CsvDialectRules.UploadOptions.Where(form.ContainsKey))
        {
            options[name] = form[name];
        }
    }

    /// <summary>
    /// The dialect the upload is read with (the dataset's when no option is given), or a 400 naming each bad option. When
    /// the options are not <paramref name="complete"/> (a form may still add or override some), only options wrong on their
    /// own are refused, and the dialect returned is not the one to read with.
    /// </summary>
    public static (CsvDialect? Dialect, ProblemHttpResult? Problem) Resolve(DatasetDefinition dataset, IReadOnlyDictionary<string, string> options,
        bool complete = true)
    {
        var errors = new Dictionary<string, List<string>>();
        void Error(string field, string message)
        {
            if (!errors.TryGetValue(field, out var list))
            {
                errors[field] = list = [];
            }

            list.Add(message);
        }

        foreach (var repeated in options.Where(o => o.Value.Contains('\u0000')))
        {
            Error(repeated.Key, "is given more than once.");
        }

        var request = CsvDialectRules.FromStrings(options, Error);
        var dialect = CsvDialectRules.Apply(request, dataset.CsvDialect, dataset.Columns, "", Error, combinations: complete);
        if (dialect is not null && errors.Count == 0)
        {
            return (dialect, null);
        }

        var problem = new HttpValidationProblemDetails(errors.ToDictionary(e => e.Key, e => e.Value.ToArray()))
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "The CSV dialect of this upload is not valid",
            Detail = $"Each option named under 'errors' is wrong; the others fall back to dataset '{dataset.Name}''s dialect. Nothing was kept.",
        };
        return (null, TypedResults.Problem(problem));
    }
}
