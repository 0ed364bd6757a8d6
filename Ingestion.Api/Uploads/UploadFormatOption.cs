using Ingestion.Platform.Datasets;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Uploads;

/// <summary>
/// An upload's <c>format</c> (query parameter or form field) over its dataset's default (<see cref="UploadFormat"/>), checked
/// as the dialect options are: a 400 that names the field and says why.
/// </summary>
public static class UploadFormatOption
{
    /// <summary>The format the query names, null when it names none; a repeated parameter is kept for <see cref="Resolve"/> to refuse.</summary>
    public static string? FromQuery(IQueryCollection query) =>
        query.TryGetValue(UploadFormat.Option, out var values)
            ? values.Count == 1 ? values[0] ?? "" : string.Join("\u0000", values.ToArray())
            : null;

    /// <summary>
    /// The format the upload is read in, or a 400 naming each bad field: an unknown format, a dataset whose columns a JSON
    /// Lines file cannot feed, or CSV dialect options given for a file that is not CSV.
    /// </summary>
    public static (string? Format, ProblemHttpResult? Problem) Resolve(DatasetDefinition dataset, string? requested,
        IReadOnlyDictionary<string, string> dialectOptions)
    {
        var errors = new Dictionary<string, string[]>();
        var format = dataset.FileFormat;
        if (requested is not null)
        {
            if (requested.Contains('\u0000'))
            {
                errors[UploadFormat.Option] = ["is given more than once."];
            }
            else if (UploadFormat.Parse(requested, out var problem) is { } parsed)
            {
                format = parsed;
            }
            else
            {
                errors[UploadFormat.Option] = [problem];
            }
        }

        if (errors.Count == 0)
        {
            var unfit = new List<string>();
            UploadFormat.Fits(format, dataset.Columns, (i, problem) => unfit.Add($"column '{dataset.Columns[i].Name}': {problem}"));
            if (unfit.Count > 0)
            {
                errors[UploadFormat.Option] = [$"'{format}' cannot feed dataset '{dataset.Name}':", .. unfit];
            }
        }

        if (errors.Count == 0 && format != UploadFormat.Csv)
        {
            foreach (var option in dialectOptions.Keys)
            {
                errors[option] = [$"is a CSV dialect option; this upload is declared '{format}'."];
            }
        }

        if (errors.Count == 0)
        {
            return (format, null);
        }

        var details = new HttpValidationProblemDetails(errors)
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "The format of this upload is not valid",
            Detail = $"Declare one of {string.Join(", ", UploadFormat.All)}, or leave it out for dataset '{dataset.Name}''s ({dataset.FileFormat}). Nothing was kept.",
        };
        return (null, TypedResults.Problem(details));
    }
}
