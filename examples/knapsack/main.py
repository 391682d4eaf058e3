"""A 0/1 knapsack solved by dynamic programming, as a Nextmv app.

Input: {"capacity": int, "items": [{"id": str, "weight": int, "value": number}, ...]}.
Output (nextmv.write): the chosen items, the objective (their total value) and statistics.
Options: -max_items N (consider only the first N items; 0 = all) and -duration S (a time limit
in seconds: when it is reached the items considered so far give the answer, status "time_limit").
"""

import time

import nextmv

OPTIONS = nextmv.Options(
    nextmv.Option("max_items", int, 0, "consider only the first N items (0: all)"),
    nextmv.Option("duration", float, 30.0, "time limit of the solve in seconds"),
)


def solve(capacity: int, items: list[dict], deadline: float) -> tuple[list[int], int, bool]:
    """Indices of the chosen items, how many items were considered, and whether all were."""
    best = [0] * (capacity + 1)
    took: list[list[bool]] = []
    for item in items:
        if time.monotonic() > deadline:
            break
        weight, value = item["weight"], item["value"]
        row = [False] * (capacity + 1)
        for room in range(capacity, weight - 1, -1):
            if best[room - weight] + value > best[room]:
                best[room] = best[room - weight] + value
                row[room] = True
        took.append(row)
    chosen, room = [], capacity
    for index in range(len(took) - 1, -1, -1):
        if took[index][room]:
            chosen.append(index)
            room -= items[index]["weight"]
    return sorted(chosen), len(took), len(took) == len(items)


def validate(data: dict) -> tuple[int, list[dict]]:
    capacity = data.get("capacity")
    items = data.get("items")
    if not isinstance(capacity, int) or capacity < 0:
        raise ValueError("capacity must be an integer >= 0")
    if not isinstance(items, list):
        raise ValueError("items must be a list")
    for item in items:
        if not isinstance(item.get("weight"), int) or item["weight"] < 0:
            raise ValueError(f"item {item.get('id')!r}: weight must be an integer >= 0")
        if not isinstance(item.get("value"), (int, float)):
            raise ValueError(f"item {item.get('id')!r}: value must be a number")
    return capacity, items


def main() -> None:
    started = time.monotonic()
    options = OPTIONS
    options.parse()
    data = nextmv.load(options=options).data
    capacity, items = validate(data)
    if options.max_items > 0:
        items = items[: options.max_items]
    nextmv.log(f"solving a knapsack of {len(items)} items, capacity {capacity}")
    chosen, considered, complete = solve(capacity, items, started + options.duration)
    picked = [items[i] for i in chosen]
    objective = sum(item["value"] for item in picked)
    weight = sum(item["weight"] for item in picked)
    elapsed = time.monotonic() - started
    statistics = nextmv.Statistics(
        run=nextmv.RunStatistics(duration=elapsed),
        result=nextmv.ResultStatistics(
            duration=elapsed,
            value=objective,
            custom={
                "status": "optimal" if complete else "time_limit",
                "items_considered": considered,
                "items_chosen": len(picked),
                "weight": weight,
                "capacity": capacity,
            },
        ),
    )
    solution = {"items": [items[i].get("id", i) for i in chosen], "value": objective}
    nextmv.write(nextmv.Output(options=options, solution=solution, statistics=statistics))


if __name__ == "__main__":
    main()
