package rubric_test

import (
	"fmt"
	"strings"

	"github.com/latentlab/latent/paperbench/rubric"
)

func Example() {
	root, err := rubric.Parse(strings.NewReader(`{
		"id": "paper", "requirements": "The paper is reproduced", "weight": 1, "sub_tasks": [
			{"id": "a", "requirements": "The method is implemented", "weight": 3, "sub_tasks": [],
			 "task_category": "Code Development", "finegrained_task_category": "Method Implementation"},
			{"id": "b", "requirements": "Table 1 is reproduced", "weight": 1, "sub_tasks": [],
			 "task_category": "Result Analysis", "finegrained_task_category": null}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	// A judge grades the leaves, then Score propagates to the root.
	rubric.Walk(root, func(p rubric.Path, n *rubric.Node) bool {
		if n.IsLeaf() {
			passed := n.TaskCategory == rubric.CodeDevelopment
			n.Grade = &rubric.Grade{Score: map[bool]float64{true: 1}[passed], Valid: true, Explanation: "…"}
			fmt.Println(p, n.TaskCategory, n.Grade.Score)
		}
		return true
	})
	score, _ := rubric.Score(root)
	fmt.Println("root", score)
	// Output:
	// root/0 Code Development 1
	// root/1 Result Analysis 0
	// root 0.75
}
